"The console script, run as a user runs it."
import os, subprocess, sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent/'cifar-fast')


def run(*args, **kw):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, **kw)


def test_help_lists_subcommands():
    r = run('--help')
    assert r.returncode == 0 and 'prepare' in r.stdout


def test_prepare_on_synthetic_data(fake, tmp_path):
    r = run('prepare', '--data', str(fake), '--bs', '16', '--out', str(tmp_path/'out'/'augs.png'))
    assert r.returncode == 0, r.stderr
    assert '80 train and 40 test images' in r.stdout and 'wrote' in r.stdout
    assert (tmp_path/'out'/'augs.png').stat().st_size > 1000


@pytest.mark.parametrize('args, message', [
    (['--data', '/no/such/place'], 'not found at /no/such/place'),
    (['--bs', '-3'], 'expected a positive integer'),
    (['--subset', 'many'], "expected a positive integer, got 'many'"),
])
def test_bad_values_one_line(fake, args, message):
    r = run('prepare', *(['--data', str(fake)] if '--data' not in args else []), *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_prepare_on_real_subset(real_data, tmp_path):
    r = run('prepare', '--data', os.environ['CIFAR_FAST_DATA'], '--subset', '10', '--bs', '50', '--out', str(tmp_path/'a.png'))
    assert r.returncode == 0, r.stderr
    assert '100 train and 100 test images' in r.stdout
