"""Many runs from the command line: `train --seeds N` killed with SIGKILL and resumed (finished seeds untouched, the
result that of an uninterrupted run), `compare` on two variants, and one-line errors for bad variants."""
import json, signal, subprocess, sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import KILLER, run

pytestmark = pytest.mark.slow  # every test here trains (tiny) models

SMALL = ['--recipe', 'fast', '--bs', '16', '--epochs', '2', '--widths', '8,16,16', '--precision', 'fp32', '--no-tta']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    from cifar_fast.data import synthetic_cifar10
    return synthetic_cifar10(tmp_path_factory.mktemp('runs')/'fake', n_train=8, n_test=4)  # 80 images: 5 batches an epoch


def test_seeds_killed_and_resumed(data, tmp_path):
    "3 seeds of 2 epochs (10 batches each); SIGKILL at batch 17, in seed 1's second epoch; --resume; then the same as a run never killed."
    args = lambda out: ['train', '--data', str(data), *SMALL, '--seeds', '3', '--export', 'all', '--out', str(out)]
    whole = run(*args(tmp_path/'whole'), '--report', tmp_path/'report')
    assert whole.returncode == 0, whole.stderr
    (tmp_path/'killer.py').write_text(KILLER)
    killed = subprocess.run([sys.executable, str(tmp_path/'killer.py'), '17', 'SIGKILL', *args(tmp_path/'killed')], capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    ledger = json.loads((tmp_path/'killed'/'runs.json').read_text())
    assert [r['seed'] for r in ledger['runs']] == [0]  # seed 0 finished, seed 1 was in its second epoch
    assert [p.name for p in (tmp_path/'killed'/'seed-1'/'model.checkpoints').iterdir()] == ['checkpoint-001.pth']
    seed0 = {p.name: p.stat().st_mtime_ns for p in (tmp_path/'killed'/'seed-0').iterdir()}
    refused = run(*args(tmp_path/'killed'))
    assert refused.returncode == 2 and 'holds an unfinished multi-seed run (1 of 3 seeds done): continue it with --resume' in refused.stderr
    resumed = run(*args(tmp_path/'killed'), '--resume')
    assert resumed.returncode == 0, resumed.stderr
    assert 'seed 0 of fast: done before' in resumed.stdout and 'resuming from' in resumed.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path/'killed'/'seed-0').iterdir()} == seed0  # untouched
    a, b = (json.loads((tmp_path/d/'runs.json').read_text())['runs'] for d in ('whole', 'killed'))
    assert [r['accuracy'] for r in a] == [r['accuracy'] for r in b]
    for s in range(3):
        wa, wb = (load_file(tmp_path/d/f'seed-{s}'/'model.safetensors') for d in ('whole', 'killed'))
        assert all(torch.equal(wa[k], wb[k]) for k in wa), s
    last = whole.stdout.strip().splitlines()[-1]
    assert last.startswith('fast: test accuracy ') and 'over 3 seeds' in last and '95% CI' in last, last
    assert last == resumed.stdout.strip().splitlines()[-1].split(';')[0] + ';' + last.split(';', 1)[1]  # the same numbers (times apart)
    assert (tmp_path/'report'/'seeds.png').exists() and 'Per seed' in (tmp_path/'report'/'index.html').read_text()


def test_compare_two_variants(data, tmp_path):
    r = run('compare', 'fast:epochs=1', 'fast:epochs=2', '--seeds', '2', '--data', data, '--bs', '16', '--widths', '8,16,16',
            '--precision', 'fp32', '--out', tmp_path/'cmp', '--report', tmp_path/'rep')
    assert r.returncode == 0, r.stderr
    verdict = r.stdout.strip().splitlines()[-1]
    assert ('fast:epochs=2 is ' in verdict or verdict.startswith('no significant difference between fast:epochs=2 and fast:epochs=1')), verdict
    assert "(Welch's t-test, 2 seeds each), in " in verdict and verdict.endswith('x the time'), verdict
    ledger = json.loads((tmp_path/'cmp'/'runs.json').read_text())
    assert [r['key'] for r in ledger['runs']] == ['A-0', 'B-0', 'A-1', 'B-1']  # alternately, seed by seed


@pytest.mark.parametrize('args, message', [
    (['compare', 'fast:epoch=1', 'fast'], "unknown recipe field 'epoch' in 'fast:epoch=1': did you mean epochs"),
    (['compare', 'fast', 'muon:lr_max=fast'], "lr_max='fast': expected float or None"),
    (['compare', 'fast', 'slow'], "unknown recipe 'slow' in 'slow': choose from era, fast, muon, cpu"),
    (['compare', 'fast', 'muon', '--seeds', '1'], 'a comparison needs at least 2 seeds, got 1'),
    (['train', '--seeds', '3', '--seed', '1'], '--seeds trains seeds 0 to 2, each with its own checkpoints: leave out --seed'),
])
def test_bad_runs_one_line(args, message, tmp_path):
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
