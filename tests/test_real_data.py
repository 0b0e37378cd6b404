"On the real CIFAR-10 (JPEG) archive named by CIFAR_FAST_DATA; skipped when it is unset."
import numpy as np
import pytest
import torch

from cifar_fast.augment import cifar_dls, show_augmentations
from cifar_fast.data import CIFAR10_CLASSES, get_image_files


def test_full_archive_layout(real_data):
    for split, n in (('train', 5000), ('test', 1000)):
        for cls in CIFAR10_CLASSES: assert len(get_image_files(real_data/split/cls)) == n, (split, cls)


def test_small_real_subset_batches(real_data):
    dls = cifar_dls(real_data, bs=100, subset=20, seed=0)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (200, 200)
    x, y = dls.valid.one_batch()
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.float32
    # normalised with CIFAR-10's own statistics: close to zero mean and unit spread on real images
    assert abs(x.mean().item()) < 0.3 and 0.7 < x.std().item() < 1.3
    xt, _ = dls.train.one_batch()
    assert xt.shape == (100, 3, 32, 32)


def test_show_augmentations_png(real_data, tmp_path):
    fig = show_augmentations(real_data, n_images=2, n_augs=3, seed=0)
    fig.savefig(tmp_path/'augs.png')
    assert (tmp_path/'augs.png').stat().st_size > 5000
