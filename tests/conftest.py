import os, subprocess, sys
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


CLI = str(Path(sys.executable).parent/'cifar-fast')
FAST_SMALL = ['--recipe', 'fast', '--subset', '100', '--bs', '100', '--epochs', '4', '--widths', '32,64,64', '--seed', '0',
              '--precision', 'fp32']


@pytest.fixture(scope='session')
def fast_model(real_data, tmp_path_factory):
    "A small fast-recipe model trained on 1,000 real images by the console script, with a report and TensorBoard logs: (folder, stdout)."
    d = tmp_path_factory.mktemp('fast')
    r = subprocess.run([CLI, 'train', '--data', str(real_data), *FAST_SMALL, '--out', str(d/'fast.pkl'), '--report', str(d/'report'),
                        '--tensorboard', str(d/'tb')], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return d, r.stdout
