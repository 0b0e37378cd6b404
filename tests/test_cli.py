"The console script, run as a user runs it."
import os, subprocess, sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent/'cifar-fast')


def run(*args, **kw):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, **kw)


def test_help_lists_subcommands():
    r = run('--help')
    assert r.returncode == 0
    for sub in ('prepare', 'train', 'lr-find', 'predict', 'evaluate'): assert sub in r.stdout


def test_prepare_on_synthetic_data(fake, tmp_path):
    r = run('prepare', '--data', str(fake), '--bs', '16', '--out', str(tmp_path/'out'/'augs.png'))
    assert r.returncode == 0, r.stderr
    assert '80 train and 40 test images' in r.stdout and 'wrote' in r.stdout
    assert (tmp_path/'out'/'augs.png').stat().st_size > 1000


def test_prepare_on_real_subset(real_data, tmp_path):
    r = run('prepare', '--data', os.environ['CIFAR_FAST_DATA'], '--subset', '10', '--bs', '50', '--out', str(tmp_path/'a.png'))
    assert r.returncode == 0, r.stderr
    assert '100 train and 100 test images' in r.stdout


@pytest.mark.parametrize('command, args, message', [
    ('prepare', ['--data', '/no/such/place'], 'not found at /no/such/place'),
    ('prepare', ['--bs', '-3'], 'expected a positive integer'),
    ('prepare', ['--subset', 'many'], "expected a positive integer, got 'many'"),
    ('train', ['--epochs', '-1'], 'expected a positive integer, got -1'),
    ('train', ['--lr-max', 'fast'], "expected a positive number or 'find', got 'fast'"),
    ('train', ['--widths', '64,128'], 'expected four comma-separated positive integers'),
    ('train', ['--precision', 'half'], "invalid choice: 'half'"),
    ('train', ['--data', '/no/such/data'], 'not found at /no/such/data'),
    ('predict', ['/no/model.pkl', 'x.png'], 'no model file at /no/model.pkl'),
    ('predict', ['/no/model.pkl', 'x.png', '--top-k', '0'], 'expected a positive integer, got 0'),
    ('evaluate', ['/no/model.safetensors'], 'no model file at /no/model.safetensors'),
])
def test_bad_values_one_line(fake, command, args, message):
    data = ['--data', str(fake)] if '--data' not in args and command != 'predict' else []
    r = run(command, *data, *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_train_on_real_subset_end_to_end(real_data, tmp_path):
    r = run('train', '--data', os.environ['CIFAR_FAST_DATA'], '--subset', '20', '--bs', '50', '--epochs', '2',
            '--widths', '16,32,64,128', '--seed', '0', '--out', str(tmp_path/'models'/'m.pkl'), '--report', str(tmp_path/'rep'))
    assert r.returncode == 0, r.stderr
    epoch_lines = [l for l in r.stdout.splitlines() if l.startswith('epoch ')]
    assert len(epoch_lines) == 2 and 'test_acc' in epoch_lines[0]
    assert '\x1b' not in r.stdout and '\r' not in r.stdout  # no progress bars when stdout is not a terminal
    assert "lr_find's valley suggestion" in r.stdout
    assert (tmp_path/'models'/'m.pkl').stat().st_size > 100_000
    for name in ('history.png', 'lr_find.png', 'top_losses.png', 'misclassified.png', 'confusion_matrix.png'):
        assert (tmp_path/'rep'/name).stat().st_size > 5000, name
    assert (tmp_path/'rep'/'per_class.csv').read_text().startswith('class,n,correct,accuracy,most_confused_with,times')
    assert (tmp_path/'models'/'m.safetensors').stat().st_size > 100_000
    import json
    m = json.loads((tmp_path/'rep'/'metrics.json').read_text())
    assert len(m['history']) == 2 and 0 <= m['final_test_accuracy'] <= 1
    assert {'wall_seconds', 'train_images_per_s_incl_eval', 'device', 'precision', 'versions'} <= set(m)


def test_lr_find_command(fake, tmp_path):
    r = run('lr-find', '--data', str(fake), '--bs', '16', '--widths', '8,16,32,64', '--out', str(tmp_path/'lr.png'))
    assert r.returncode == 0, r.stderr
    assert 'valley' in r.stdout and (tmp_path/'lr.png').stat().st_size > 5000
