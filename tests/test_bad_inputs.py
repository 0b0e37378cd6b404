"""What happens when a user gives cifar_fast bad input: one row per case, the same table as the README's "What happens when...".

Each row builds its case in a fresh folder and runs `cifar-fast` in this process. An error is one line on stderr, exit
status 2, naming the file or folder; a case that cifar_fast handles says so in one line (a warning) or not at all."""
import io, json, shutil, tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

import cifar_fast.classifier as classifier
from cifar_fast.weights import _digest
from cifar_fast.cli import main


def damage(d, *rel, data=b'\x89PNG\r\n\x1a\n not really'):
    for r in rel: (d/r).write_bytes(data)


def tar_with(d, tmp, member:tarfile.TarInfo, payload=b''):
    "A .tgz of the CIFAR folder `d` plus one hostile `member`."
    out = tmp/'data.tgz'
    with tarfile.open(out, 'w:gz') as t:
        t.add(d, arcname='cifar10')
        t.addfile(member, io.BytesIO(payload) if payload else None)
    return out


def member(name, **kw):
    m = tarfile.TarInfo(name)
    for k, v in kw.items(): setattr(m, k, v)
    return m


def cut_archive(d, tmp):
    out = tmp/'data.tgz'
    with tarfile.open(out, 'w:gz') as t: t.add(d, arcname='cifar10')
    out.write_bytes(out.read_bytes()[:out.stat().st_size // 2])
    return out


def odd_images(d):
    "Greyscale, RGBA, 16-bit greyscale and a 3000x2000 photo-sized image, in place of training images."
    rgb = np.asarray(Image.open(d/'train'/'cat'/'0000.png'))
    Image.fromarray(rgb).convert('L').save(d/'train'/'cat'/'0000.png')
    Image.fromarray(rgb).convert('RGBA').save(d/'train'/'cat'/'0001.png')
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(d/'train'/'cat'/'0002.png')
    Image.fromarray(rgb).resize((3000, 2000)).save(d/'train'/'cat'/'0003.png')


def huge(tmp, kind) -> Path:
    "A picture that is huge decoded but small on disk: a 12000x12000 JPEG, a 13000x13000 16-bit grey PNG, or a 9000x9000 colour PNG."
    if kind == 'jpeg': Image.new('RGB', (12000, 12000), (200, 30, 60)).save(out := tmp/'huge.jpg')
    elif kind == 'grey16':
        a = np.zeros((13000, 13000), dtype=np.uint16); a[::2] = 65535
        Image.fromarray(a).save(out := tmp/'huge16.png')
    else: Image.new('RGB', (9000, 9000)).save(out := tmp/'huge.png')
    return out


def _spec(name):
    from cifar_fast.archs import build_model
    return build_model(name).cifar_spec


def arch_weights(tmp, name):
    "A weights file of the (untrained) timm or torchvision model `name`."
    from cifar_fast.archs import build_model
    from cifar_fast.weights import save_weights
    return save_weights(build_model(name), [str(i) for i in range(10)], ((0.5,) * 3, (0.25,) * 3), tmp/f"{name.replace(':', '_')}.safetensors")


def weights_with(path, out, **changes):
    "A copy of the weights file at `path` whose metadata has `changes`, with a valid checksum (as a newer cifar_fast would write)."
    with safe_open(path, framework='pt') as f: meta, tensors = json.loads(f.metadata()['cifar_fast']), {k: f.get_tensor(k) for k in f.keys()}
    meta = json.dumps({**meta, **changes})
    save_file(tensors, out, metadata={'cifar_fast': meta, 'sha256': _digest(meta, tensors)})
    return out


@pytest.fixture
def weights(tmp_path, fake):
    "An (untrained) exported weights file of a small model."
    from cifar_fast.augment import cifar_dls
    from cifar_fast.learner import cifar_learner
    from cifar_fast.model import CustomResNet
    return cifar_learner(cifar_dls(fake, bs=16), CustomResNet(widths=(8, 16, 32, 64))).export_weights(tmp_path/'w.safetensors')


PREPARE = lambda d, tmp: ['prepare', '--data', d, '--bs', 8, '--out', tmp/'aug.png']

# id, what happens (the README's wording), set-up(d, tmp) -> argv, exit status, stderr says, stdout says
ROWS = [
    ('corrupt-image', 'a corrupt image in the data folder: an error naming the file',
     lambda d, tmp: (damage(d, 'train/cat/0001.png'), PREPARE(d, tmp))[1], 2, "cannot read image {d}/train/cat/0001.png", None),
    ('zero-byte-image', 'a zero-byte image: an error naming the file',
     lambda d, tmp: (damage(d, 'train/dog/0002.png', data=b''), PREPARE(d, tmp))[1], 2, "cannot read image {d}/train/dog/0002.png", None),
    ('truncated-jpeg', 'a truncated JPEG: an error naming the file',
     lambda d, tmp: ((d/'train'/'cat'/'0001.png').write_bytes(_jpeg_head(d)), PREPARE(d, tmp))[1], 2, "cannot read image {d}/train/cat/0001.png", None),
    ('non-image-file', 'a file that is not an image (notes.txt) among the images: ignored, as fastai does',
     lambda d, tmp: ((d/'train'/'cat'/'notes.txt').write_text('hello'), PREPARE(d, tmp))[1], 0, None, '(80 train and 40 test images'),
    ('skip-bad', '`--skip-bad`: unreadable images left out, counted in one warning',
     lambda d, tmp: (damage(d, 'train/cat/0001.png', 'test/dog/0000.png'), PREPARE(d, tmp) + ['--skip-bad'])[1], 0,
     "cifar-fast prepare: warning: skipped 2 unreadable images: cannot read image {d}/test/dog/0000.png", '(79 train and 39 test images'),
    ('odd-images', 'greyscale, RGBA, 16-bit and huge (3000x2000) images: converted to 32x32 RGB as for prediction',
     lambda d, tmp: (odd_images(d), PREPARE(d, tmp))[1], 0, None, '(80 train and 40 test images'),
    ('archive-dotdot', "an archive member with `..`: refused before anything is extracted",
     lambda d, tmp: PREPARE(tar_with(d, tmp, member('cifar10/../../evil.png', size=3), b'bad'), tmp), 2,
     "refusing to extract {tmp}/data.tgz: member 'cifar10/../../evil.png' has an absolute path or '..'", None),
    ('archive-absolute', 'an archive member with an absolute path: refused',
     lambda d, tmp: PREPARE(tar_with(d, tmp, member('/tmp/evil.png', size=3), b'bad'), tmp), 2,
     "member '/tmp/evil.png' has an absolute path or '..'", None),
    ('archive-link', 'an archive member that is a link: refused',
     lambda d, tmp: PREPARE(tar_with(d, tmp, member('cifar10/train/cat/link.png', type=tarfile.SYMTYPE, linkname='/etc/passwd')), tmp), 2,
     "member 'cifar10/train/cat/link.png' is a link or special file", None),
    ('archive-cut-short', 'an archive cut short: an error saying so, nothing half-extracted left in the cache',
     lambda d, tmp: PREPARE(cut_archive(d, tmp), tmp), 2, "cannot extract {tmp}/data.tgz: the archive is truncated or corrupt", None),
    ('extra-class-folder', 'an extra class folder: an error listing it',
     lambda d, tmp: (shutil.copytree(d/'train'/'cat', d/'train'/'unicorn'), PREPARE(d, tmp))[1], 2, "unexpected ['unicorn']", None),
    ('missing-class-folder', 'a missing class folder: an error listing it',
     lambda d, tmp: (shutil.rmtree(d/'test'/'ship'), PREPARE(d, tmp))[1], 2, "missing ['ship']", None),
    ('empty-class-folder', 'an empty class folder: an error naming it',
     lambda d, tmp: ([f.unlink() for f in (d/'train'/'frog').iterdir()], PREPARE(d, tmp))[1], 2, "no images (files Pillow reads by their extension, e.g. .png, .jpg) in {d}/train/frog", None),
    ('unwritable-output', 'an output folder that cannot be written: an error before any work',
     lambda d, tmp: ['train', '--data', d, '--out', d/'train'/'cat'/'0000.png'/'m.pkl'], 2, "cannot write in {d}/train/cat/0000.png", None),
    ('resume-without-checkpoint', '`--resume` with no checkpoint: an error saying there is nothing to resume',
     lambda d, tmp: ['train', '--data', d, '--out', tmp/'m.pkl', '--resume'], 2, "no checkpoint in {tmp}/m.checkpoints: nothing to resume", None),
    ('newer-model-file', 'a weights file from a newer cifar_fast: an error saying to upgrade',
     lambda d, tmp: ['predict', weights_with(tmp/'w.safetensors', tmp/'new.safetensors', format='cifar_fast.weights/9', cifar_fast_version='9.0.0'),
                     d/'test'/'cat'/'0000.png'], 2, "was written by a newer cifar_fast (9.0.0, format cifar_fast.weights/9", None),
    ('other-architecture', 'weights for an architecture this cifar_fast does not know: an error naming it',
     lambda d, tmp: ['evaluate', weights_with(tmp/'w.safetensors', tmp/'vgg.safetensors', arch='VGG16'), '--data', d], 2,
     "holds weights for a VGG16 model, which this cifar_fast cannot build (it knows CustomResNet, AirbenchNet, AirbenchMuonNet, and timm's and torchvision's models)", None),
    ('library-cannot-build', "weights for a timm or torchvision model the installed library cannot build: an error naming the version that wrote it",
     lambda d, tmp: ['predict', weights_with(arch_weights(tmp, 'torchvision:squeezenet1_1'), tmp/'old.safetensors', model={**_spec('torchvision:squeezenet1_1'), 'name': 'squeezenet9', 'version': '9.0'}),
                     d/'test'/'cat'/'0000.png'], 2, "holds a torchvision squeezenet9 (written with torchvision 9.0), which the installed torchvision", None),
    ('unknown-model-name', '`--model` with a name in neither library: an error with the closest names',
     lambda d, tmp: ['train', '--data', d, '--model', 'resnt18'], 2, "argument --model: unknown model 'resnt18': not in cifar_fast's registry, timm or torchvision; did you mean resnet18,", None),
    ('model-too-big-for-32', '`--model` with an architecture that cannot take 32x32 images: an error saying why, before any training',
     lambda d, tmp: ['train', '--data', d, '--bs', 8, '--epochs', 1, '--model', 'torchvision:alexnet', '--out', tmp/'a.pkl'], 2,
     "torchvision alexnet cannot take 32x32 images (Given input size: (256x1x1)", None),
    ('cam-unknown-layer', '`cam --layer` with a layer the model does not have: an error with the closest names',
     lambda d, tmp: ['cam', tmp/'w.safetensors', d/'test'/'cat'/'0000.png', '--layer', '3.9', '--out', tmp/'c.png'], 2,
     "CustomResNet(8, 16, 32, 64) has no layer '3.9': did you mean", None),
    ('cam-no-feature-map', '`cam` on a model with no convolutional feature map (a ViT): an error saying so',
     lambda d, tmp: ['cam', arch_weights(tmp, 'vit_tiny_patch16_224'), d/'test'/'cat'/'0000.png', '--out', tmp/'c.png'], 2,
     "timm vit_tiny_patch16_224 (img_size=32, patch_size=4) has no convolutional stage after its stem (a transformer?)", None),
    ('predict-folder', '`predict` on a folder: every image under it, in name order',
     lambda d, tmp: ['predict', tmp/'w.safetensors', d/'test'/'cat'], 0, None, "{d}/test/cat/0000.png  "),
    ('predict-huge-jpeg', '`predict` on a 12000x12000 JPEG: decoded at 1/8 scale, predicted (memory bounded, no warning)',
     lambda d, tmp: ['predict', tmp/'w.safetensors', huge(tmp, 'jpeg')], 0, None, "{tmp}/huge.jpg  "),
    ('predict-huge-grey16', '`predict` on a 13000x13000 16-bit grey PNG: decoded straight to 8 bits, predicted (no decompression-bomb warning)',
     lambda d, tmp: ['predict', tmp/'w.safetensors', huge(tmp, 'grey16')], 0, None, "{tmp}/huge16.png  "),
    ('predict-too-large-png', '`predict` on a colour PNG too large to decode within 256 MB (9000x9000): an error saying so, the rest predicted',
     lambda d, tmp: ['predict', tmp/'w.safetensors', huge(tmp, 'rgb'), d/'test'/'cat'/'0000.png'], 1,
     ("cannot read image {tmp}/huge.png: 9000x9000 (PNG RGB) would take 309 MB to decode", "cifar-fast predict: 1 of 2 images could not be read"),
     "{d}/test/cat/0000.png  "),
    ('predict-some-unreadable', '`predict` with unreadable images among good ones: each named, the rest predicted, exit status 1',
     lambda d, tmp: (damage(d, 'test/cat/0001.png'), ['predict', tmp/'w.safetensors', d/'test'/'cat'/'0001.png', d/'test'/'cat'/'0000.png'])[1], 1,
     ("cifar-fast predict: error: cannot read image {d}/test/cat/0001.png", "cifar-fast predict: 1 of 2 images could not be read"),
     "{d}/test/cat/0000.png  "),
]


def _jpeg_head(d) -> bytes:
    "The first 60% of a JPEG of a training image: a download cut short."
    buf = io.BytesIO()
    Image.open(d/'train'/'cat'/'0001.png').resize((64, 64)).save(buf, 'JPEG')
    return buf.getvalue()[:int(len(buf.getvalue()) * 0.6)]


@pytest.mark.parametrize('case, what, setup, rc, err, out', ROWS, ids=[r[0] for r in ROWS])
def test_bad_input(tmp_path, fake, weights, capsys, case, what, setup, rc, err, out):
    fmt = lambda s: s.format(d=fake, tmp=tmp_path)
    try: got = main([str(a) for a in setup(fake, tmp_path)])
    except SystemExit as e: got = e.code  # argparse's own errors (one line: cifar_fast's parser)
    o, e = capsys.readouterr()
    assert got == rc, (what, o, e)
    lines = e.strip().splitlines()
    err = (err,) if isinstance(err, str) else err or ()
    assert 'Traceback' not in e and len(lines) == len(err), e
    for line, want in zip(lines, err): assert fmt(want) in line, (fmt(want), e)
    if out: assert fmt(out) in o, (fmt(out), o)
    if case == 'archive-cut-short': assert [p.name for p in (tmp_path/'cache').iterdir() if p.name != 'decoded'] == []  # conftest's private cache (decoded: the fixture's data)
    if case == 'predict-folder': assert len(o.splitlines()) == 4


def test_predict_ten_thousand_files_streams(tmp_path, weights, capsys, monkeypatch):
    "10,000 files: decoded --bs at a time, each batch predicted before the next is read, one line each."
    folder = tmp_path/'many'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10_000): Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder/f'{i:05d}.png')
    decoded, at_predict = [0], []
    real_decode, real_probs = classifier.image_array, classifier.Classifier.probs
    monkeypatch.setattr(classifier, 'image_array', lambda item: (decoded.__setitem__(0, decoded[0] + 1), real_decode(item))[1])
    monkeypatch.setattr(classifier.Classifier, 'probs', lambda self, images: (at_predict.append((decoded[0], len(images))), real_probs(self, images))[1])
    assert main(['predict', str(weights), str(folder), '--bs', '500']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10_000 and lines[0].startswith(f'{folder}/00000.png  ') and lines[-1].startswith(f'{folder}/09999.png  ')
    assert at_predict == [((i + 1) * 500, 500) for i in range(20)]  # never more than one batch of 500 decoded images held
