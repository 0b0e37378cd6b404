"On the real CIFAR-10 (JPEG) archive named by CIFAR_FAST_DATA; skipped when it is unset."
import numpy as np
import torch
from PIL import Image

from cifar_fast.augment import CIFAR10_MEAN_PIXEL, cifar_dls, show_augmentations
from cifar_fast.recipes import CIFAR10_MEAN, CIFAR10_STD, ERA, ERA_STD
from cifar_fast.data import CIFAR10_CLASSES, cifar_files, decode_images, image_array
from fastai.data.transforms import get_image_files


def test_full_archive_layout(real_data):
    for split, n in (('train', 5000), ('test', 1000)):
        for cls in CIFAR10_CLASSES: assert len(get_image_files(real_data/split/cls)) == n, (split, cls)


def test_statistics_are_what_their_names_say(real_data):
    "CIFAR10_MEAN/STD are the training pixels' own statistics; the reference's ERA_STD is the mean per-image std."
    x = decode_images(cifar_files(real_data, split='train'))[0].reshape(50_000, -1, 3).astype(np.float32) / 255  # decoded as training decodes them
    mean, std = x.mean((0, 1), dtype=np.float64), x.std((0, 1), dtype=np.float64)
    np.testing.assert_allclose(mean, CIFAR10_MEAN, atol=0.002)  # the JPEG copy moves them a little
    np.testing.assert_allclose(std, CIFAR10_STD, atol=0.003)
    np.testing.assert_allclose(x.std(1, dtype=np.float64).mean(0), ERA_STD, atol=0.003)
    assert (std - np.array(ERA_STD)).min() > 0.04  # the reference's divisor is not the pixels' std
    assert ERA.stats == (CIFAR10_MEAN, ERA_STD)


def test_small_real_subset_batches(real_data):
    dls = cifar_dls(real_data, bs=100, subset=20, seed=0)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (200, 200)
    x, y = dls.valid.one_batch()
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.float32
    # normalised with the reference's statistics: mean near 0, spread about 1.2 (ERA_STD is smaller than the pixels' std)
    assert abs(x.mean().item()) < 0.3 and 1.0 < x.std().item() < 1.4
    xt, _ = dls.train.one_batch()
    assert xt.shape == (100, 3, 32, 32)


def _explained(aug:np.ndarray, orig:np.ndarray, pad:int=4, hole:int=8) -> bool:
    "Whether `aug` is a 32x32 window of `orig` reflect-padded by `pad` (flipped or not), up to one `hole` of the mean."
    for src in (orig, orig[:, ::-1]):
        padded = np.pad(src, ((pad, pad), (pad, pad), (0, 0)), mode='reflect')  # = cv2.BORDER_REFLECT_101
        for i in range(2 * pad + 1):
            for j in range(2 * pad + 1):
                diff = (aug != padded[i:i + 32, j:j + 32]).any(-1)
                if not diff.any(): return True
                rows, cols = np.nonzero(diff)
                if np.ptp(rows) < hole and np.ptp(cols) < hole and (aug[diff] == CIFAR10_MEAN_PIXEL).all(): return True
    return False


def test_show_augmentations_shows_the_recipe(real_data, tmp_path):
    "Each row: the training image itself, then versions that the era recipe can make of it, and no others."
    fig = show_augmentations(real_data, n_images=2, n_augs=4, seed=0)
    fig.savefig(tmp_path/'augs.png')
    assert np.asarray(Image.open(tmp_path/'augs.png').convert('L')).std() > 10  # a picture was written, not a blank page
    shown = [np.asarray(ax.images[0].get_array()) for ax in fig.axes]
    titles = [ax.get_title() for ax in fig.axes]
    for row in range(2):
        orig, augs = shown[row * 5], shown[row * 5 + 1:row * 5 + 5]
        assert titles[row * 5] in CIFAR10_CLASSES
        matches = [f for f in (real_data/'train'/titles[row * 5]).iterdir() if np.array_equal(image_array(f), orig)]
        assert matches, 'the first picture of a row is a training image of its class'
        assert all(a.shape == (32, 32, 3) and _explained(a, orig) for a in augs)
        assert sum(not np.array_equal(a, orig) for a in augs) >= 3
