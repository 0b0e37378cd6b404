"Shipping a model: the exported learner and the safe weights file, on real images and in fresh processes."
import json, os, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
from fastai.torch_core import set_seed
from PIL import Image

from cifar_fast.augment import cifar_dls
from cifar_fast.data import cifar_files
from cifar_fast.inference import classifier_from_file, export_weights, load_classifier, load_exported
from cifar_fast.learner import cifar_learner
from cifar_fast.model import CustomResNet

from conftest import CLI


def _train_and_export(source, dest:Path, subset=None, bs=16):
    "A small fp32 model trained for one epoch, exported both ways into `dest`."
    set_seed(0)
    dls = cifar_dls(source, bs=bs, subset=subset, seed=0, device='cpu')
    learn = cifar_learner(dls, CustomResNet(widths=(16, 32, 64, 128)), precision='fp32')
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 3e-3)
    dest.mkdir(parents=True, exist_ok=True)
    learn.export(dest/'model.pkl')
    export_weights(learn, dest/'model.safetensors')
    return learn


@pytest.fixture(scope='module')
def real_models(real_data, tmp_path_factory):
    dest = tmp_path_factory.mktemp('real-models')
    _train_and_export(real_data, dest, subset=30, bs=50)
    return dest


@pytest.mark.slow
def test_safe_path_equals_learner_on_real_images(real_models, real_data):
    files = cifar_files(real_data, subset=10, seed=1, split='test')
    learn = load_exported(real_models/'model.pkl')
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(files, bs=64))  # fastai's own pipeline
    safe = load_classifier(real_models/'model.safetensors').predict_batch(files)
    assert all(r.ok for r in safe)
    np.testing.assert_allclose(np.stack([r.probs for r in safe]), probs.numpy(), atol=1e-5)
    assert [r.index for r in safe] == probs.argmax(1).tolist()
    assert [r.label for r in safe] == [learn.dls.vocab[i] for i in probs.argmax(1)]


@pytest.mark.slow
def test_odd_inputs_in_one_batch_on_real_images(real_models, real_data, tmp_path):
    clf = load_classifier(real_models/'model.safetensors')
    src = cifar_files(real_data, subset=1, seed=0, split='test')[0]
    img = Image.open(src)
    img.resize((512, 384)).save(tmp_path/'large.png')
    img.convert('L').save(tmp_path/'grey.png')
    Image.fromarray(np.asarray(img.convert('L')).astype(np.uint16) * 257).save(tmp_path/'grey16.png')
    img.convert('RGBA').save(tmp_path/'rgba.png')
    img.convert('P').save(tmp_path/'palette.png')
    (tmp_path/'half.jpg').write_bytes(src.read_bytes()[:200])
    items = [src, tmp_path/'large.png', tmp_path/'grey.png', tmp_path/'grey16.png', tmp_path/'rgba.png',
             tmp_path/'palette.png', img, np.asarray(img), tmp_path/'half.jpg']
    res = clf.predict_batch(items)
    assert [r.ok for r in res] == [True] * 8 + [False]
    assert 'half.jpg' in res[-1].error
    same = clf.predict(src)
    for r in (res[4], res[6], res[7]):  # opaque RGBA, the PIL image and the array are the same pixels as the file
        np.testing.assert_allclose(r.probs, same.probs, atol=1e-5)
    np.testing.assert_allclose(res[3].probs, res[2].probs, atol=1e-5)  # 16-bit grey is the 8-bit grey picture
    assert all(r.label in clf.classes for r in res[:8])


@pytest.mark.slow
def test_cli_predict_in_a_fresh_process(tmp_path, fake):
    "Only cifar_fast installed: no data folder, no training script, another working directory."
    _train_and_export(fake, tmp_path/'m')
    images = [str(p) for p in sorted((fake/'test').glob('*/*.png'))[:5]]
    env = {k: v for k, v in os.environ.items() if k != 'CIFAR_FAST_DATA'}
    outs = []
    for model in ('model.pkl', 'model.safetensors'):
        r = subprocess.run([CLI, 'predict', str(tmp_path/'m'/model), *images, '--json'], capture_output=True, text=True,
                           timeout=300, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout))
    assert [o['label'] for o in outs[0]] == [o['label'] for o in outs[1]]
    assert all(abs(sum(o['probs'].values()) - 1) < 1e-4 and len(o['top']) == 3 for o in outs[1])


@pytest.mark.slow
def test_cli_predict_reports_bad_images_and_keeps_going(real_models, real_data, tmp_path):
    images = [str(f) for f in cifar_files(real_data, subset=1, seed=0, split='test')[:3]]
    (tmp_path/'notes.jpg').write_text('hello')
    r = subprocess.run([CLI, 'predict', str(real_models/'model.safetensors'), *images, str(tmp_path/'notes.jpg')],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert [l.split()[0] for l in r.stdout.splitlines()] == images
    assert 'notes.jpg' in r.stderr and '1 of 4 images could not be read' in r.stderr and 'Traceback' not in r.stderr


@pytest.mark.slow
def test_cli_evaluate_both_files_on_real_subset(real_models, real_data, tmp_path):
    accs = []
    for model in ('model.pkl', 'model.safetensors'):
        r = subprocess.run([CLI, 'evaluate', str(real_models/model), '--data', str(real_data), '--subset', '20', '--seed', '0',
                            '--bs', '100', '--precision', 'fp32', '--report', str(tmp_path/model)],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        first, *classes = r.stdout.strip().splitlines()[:11]
        assert first.startswith('test accuracy') and '/200)' in first
        assert len(classes) == 10 and all('/20' in l for l in classes)
        accs.append(first.split()[2])
        table = (tmp_path/model/'per_class.csv').read_text().splitlines()
        assert [row.split(',')[:3] for row in table[1:]] == [l.split()[:1] + l.split()[2].split('/')[::-1] for l in classes]  # the file is what was printed
    assert accs[0] == accs[1]
    # both files predict the same classes, so their reports draw the same confusion matrix, pixel for pixel, and list the same counts
    pictures = [np.asarray(Image.open(tmp_path/model/'confusion_matrix.png')) for model in ('model.pkl', 'model.safetensors')]
    assert pictures[0].shape == pictures[1].shape and (pictures[0] == pictures[1]).all()
    assert (tmp_path/'model.pkl'/'per_class.csv').read_text() == (tmp_path/'model.safetensors'/'per_class.csv').read_text()


@pytest.mark.slow
def test_loading_failures_are_clear(real_models, tmp_path):
    data = (real_models/'model.safetensors').read_bytes()
    (tmp_path/'cut.safetensors').write_bytes(data[:-1000])
    (tmp_path/'cut.pkl').write_bytes((real_models/'model.pkl').read_bytes()[:-1000])
    for name, message in (('cut.safetensors', 'truncated'), ('cut.pkl', 'is not an exported learner')):
        with pytest.raises(ValueError, match=message): classifier_from_file(tmp_path/name)


PREDICT_IN_CHILD = """import sys
if sys.argv[1] == 'no-torch': sys.modules['torch'] = None  # importing torch fails, as on a server without it
from cifar_fast.cli import main
rc = main(['predict', *sys.argv[2:]])
print('modules', *sorted(m for m in ('torch', 'fastai') if sys.modules.get(m) is not None))
print('peak_mb', next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) / 1024)  # this program's own peak (ru_maxrss would count the forking parent's)
sys.exit(rc)
"""


def _timed(*args) -> tuple:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)
    return time.perf_counter() - t, r


@pytest.mark.slow
def test_predict_imports_only_what_the_file_needs(small_model):
    "One image, whole process: ONNX without torch (importing it fails), in less time than importing torch and within 300 MB; the weights file without fastai, in less time than importing fastai (both timed here, beside it)."
    d, images = small_model
    image = images[0]
    want = load_classifier(d/'m.safetensors').predict(image).label
    torch_s = min(_timed('-c', 'import torch')[0] for _ in range(2))  # references, timed here on the same (maybe busy) machine
    fastai_s = min(_timed('-c', 'import fastai.vision.all')[0] for _ in range(2))
    onnx_s, r = min((_timed('-c', PREDICT_IN_CHILD, 'no-torch', str(d/'m.onnx'), str(image)) for _ in range(2)), key=lambda x: x[0])
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].split()[:2] == [str(image), want] and out[1] == 'modules', out
    peak = float(out[2].split()[1])
    weights_s, r = min((_timed('-c', PREDICT_IN_CHILD, 'torch', str(d/'m.safetensors'), str(image)) for _ in range(2)), key=lambda x: x[0])
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].split()[:2] == [str(image), want] and out[1] == 'modules torch', out
    print(f"onnx {onnx_s:.2f}s {peak:.0f} MB; weights {weights_s:.2f}s; import torch {torch_s:.2f}s, fastai {fastai_s:.2f}s")
    assert onnx_s < torch_s and peak < 300, (onnx_s, torch_s, peak)  # the whole ONNX prediction costs less than importing torch alone
    assert weights_s < fastai_s, (weights_s, fastai_s)  # and the weights file's less than importing fastai: neither loads what it does not need
