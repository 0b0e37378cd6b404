"Data edge cases: archives (safety, idempotence, interruption), layouts, corrupt images, subsets, seeds, workers."
import io, shutil, tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from cifar_fast.augment import cifar_dls
from cifar_fast.recipes import ERA
from cifar_fast.data import CIFAR10_CLASSES, DataError, cifar_dataloaders, get_cifar10, image_array


def _tar(path, members):
    "Write a .tgz holding `members`: (name, bytes) pairs, or (name, TarInfo-tweak) for special entries."
    with tarfile.open(path, 'w:gz') as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if callable(data): data(info); t.addfile(info)
            else: info.size = len(data); t.addfile(info, io.BytesIO(data))
    return path


def test_archive_extracted_once_and_reused(fake, tmp_path):
    arc = tmp_path/'c.tar'
    with tarfile.open(arc, 'w') as t: t.add(fake, arcname='cifar10')
    root = get_cifar10(arc)
    assert root.name == 'cifar10' and len(list((root/'test').rglob('*.png'))) == 40
    marker = root/'marker'; marker.write_text('kept')
    assert get_cifar10(arc) == root and marker.exists()


@pytest.mark.parametrize('name', ['/etc/evil.txt', '../evil.txt', 'cifar10/../../evil.txt'])
def test_unsafe_member_refused(tmp_path, name):
    arc = _tar(tmp_path/'bad.tgz', [('cifar10/labels.txt', b'x'), (name, b'evil')])
    with pytest.raises(DataError, match="absolute path or '..'"): get_cifar10(arc)
    assert not (tmp_path/'evil.txt').exists()
    assert not any((tmp_path/'cache').iterdir())  # nothing left behind


def test_link_member_refused(tmp_path):
    def symlink(info): info.type, info.linkname = tarfile.SYMTYPE, '/etc/passwd'
    arc = _tar(tmp_path/'link.tgz', [('cifar10/train', symlink)])
    with pytest.raises(DataError, match='is a link'): get_cifar10(arc)


def test_truncated_archive(fake, tmp_path):
    arc = tmp_path/'c.tgz'
    with tarfile.open(arc, 'w:gz') as t: t.add(fake, arcname='cifar10')
    data = arc.read_bytes()
    arc.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match='truncated or corrupt'): get_cifar10(arc)
    assert not any((tmp_path/'cache').iterdir())


def test_interrupted_extraction_leaves_nothing_that_looks_complete(fake, tmp_path, monkeypatch):
    arc = tmp_path/'c.tgz'
    with tarfile.open(arc, 'w:gz') as t: t.add(fake, arcname='cifar10')
    real_extractfile, seen = tarfile.TarFile.extractfile, []
    def interrupted(self, member):  # some files written, then the user presses Ctrl-C
        seen.append(member)
        if len(seen) > 20: raise KeyboardInterrupt
        return real_extractfile(self, member)
    monkeypatch.setattr(tarfile.TarFile, 'extractfile', interrupted)
    with pytest.raises(KeyboardInterrupt): get_cifar10(arc)
    assert not any((tmp_path/'cache').iterdir())
    monkeypatch.undo()
    assert len(list((get_cifar10(arc)/'train').rglob('*.png'))) == 80  # a later call extracts it all


def test_layout_errors(fake, tmp_path):
    shutil.rmtree(fake/'test'/'cat')
    with pytest.raises(DataError, match=r"missing \['cat'\], unexpected none"): get_cifar10(fake)
    (fake/'test'/'cat').mkdir(); (fake/'test'/'kitten').mkdir()
    with pytest.raises(DataError, match=r"unexpected \['kitten'\]"): get_cifar10(fake)
    shutil.rmtree(fake/'test')
    with pytest.raises(DataError, match='test/ is missing$'): get_cifar10(fake)
    (fake/'val').mkdir()  # a train/ + val/ layout: say what was found and what to do
    with pytest.raises(DataError, match=r'test/ is missing; found val/: rename it to test/ \(CIFAR-10.s test split is the validation set here\)$'):
        get_cifar10(fake)
    with pytest.raises(DataError, match=str(tmp_path/'nope')): get_cifar10(tmp_path/'nope')


def test_environment_variable_is_the_default(fake, monkeypatch):
    monkeypatch.setenv('CIFAR_FAST_DATA', str(fake))
    assert get_cifar10() == fake


@pytest.mark.parametrize('content', [b'', b'not an image at all', b'\x89PNG\r\n\x1a\n broken'])
def test_corrupt_image_named(fake, content):
    bad = fake/'train'/'dog'/'0003.png'
    bad.write_bytes(content)
    with pytest.raises(DataError, match='0003.png'): cifar_dls(fake, bs=4)


def test_odd_images_become_32x32_rgb(fake):
    Image.new('L', (40, 50), 128).save(fake/'train'/'cat'/'gray.png')
    Image.new('RGBA', (32, 32), (10, 20, 30, 40)).save(fake/'train'/'cat'/'rgba.png')
    for name in ('gray.png', 'rgba.png'):
        arr = image_array(fake/'train'/'cat'/name)
        assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8


def test_batches_normalised(fake):
    dls = cifar_dataloaders(fake, bs=40)
    x, y = dls.valid.one_batch()
    raw = np.stack([image_array(f) for f in dls.valid.items[:40]]).astype(np.float32) / 255
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in ERA.stats)
    expected = (torch.from_numpy(raw).permute(0, 3, 1, 2) - mean) / std
    assert torch.allclose(x.cpu(), expected, atol=1e-5)
    assert [dls.vocab[i] for i in y] == [f.parent.name for f in dls.valid.items[:40]]




def test_workers_draw_different_augmentations(tmp_path):
    "Albumentations' random state is per Compose: each DataLoader worker must be reseeded or they all augment alike."
    one = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for split in ('train', 'test'):
        for cls in CIFAR10_CLASSES:
            (tmp_path/split/cls).mkdir(parents=True)
            for i in range(2): Image.fromarray(one).save(tmp_path/split/cls/f'{i}.png')
    dl = cifar_dls(tmp_path, bs=8, num_workers=2, seed=0).train.new(shuffle=False)
    batches = [x for x, _ in dl]  # batches alternate between the two workers; all inputs are the same image
    assert not torch.equal(batches[0], batches[1])
