import os
from pathlib import Path

import pytest

from cifar_fast.data import synthetic_cifar10

REAL_DATA = os.environ.get('CIFAR_FAST_DATA')


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    "Every test extracts archives into its own cache, never the user's."
    monkeypatch.setenv('CIFAR_FAST_CACHE', str(tmp_path/'cache'))


@pytest.fixture
def fake(tmp_path) -> Path:
    return synthetic_cifar10(tmp_path/'fake')


@pytest.fixture(scope='session')
def real_data(tmp_path_factory) -> Path:
    "The real CIFAR-10 archive or folder from CIFAR_FAST_DATA, extracted once per session; skip when unset."
    if not REAL_DATA: pytest.skip('CIFAR_FAST_DATA is not set')
    from cifar_fast.data import get_cifar10
    return get_cifar10(REAL_DATA, cache_dir=tmp_path_factory.mktemp('real-cache'))
