"The console script, run as a user runs it."
import io, json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cifar_fast.cli import main
from cifar_fast.history import plot_history
from cifar_fast.recipes import RECIPES

from conftest import run, untrained_accuracy
SUBCOMMANDS = ['prepare', 'train', 'compare', 'sweep', 'lr-find', 'models', 'predict', 'cam', 'evaluate', 'export-onnx', 'demo']



def test_help_lists_subcommands():
    r = run('--help')
    assert r.returncode == 0 and r.stderr == ''
    block = r.stdout.split('  COMMAND\n', 1)[1].split('\n\n')[0]  # the lines under "positional arguments: COMMAND"
    listed = [l.split()[0] for l in block.splitlines() if l.startswith('    ') and not l.startswith('      ')]
    assert listed == SUBCOMMANDS, block
    for sub in SUBCOMMANDS:
        h = run(sub, '--help')
        assert h.returncode == 0 and h.stdout.startswith(f'usage: cifar-fast {sub}'), (sub, h.stdout[:200])
    assert f"{', '.join(RECIPES)}, or a variant such as fast:lr_max=0.8" in ' '.join(run('train', '--help').stdout.split())  # the recipes it accepts


@pytest.mark.parametrize('command, args, message', [
    ('prepare', ['--data', '/no/such/place'], 'not found at /no/such/place'),
    ('prepare', ['--bs', '-3'], 'expected a positive integer'),
    ('prepare', ['--subset', 'many'], "expected a positive integer, got 'many'"),
    ('train', ['--epochs', '-1'], 'expected a positive number of epochs, got -1'),
    ('train', ['--lr-max', 'fast'], "expected a positive number or 'find', got 'fast'"),
    ('train', ['--widths', '64,0'], 'expected comma-separated positive integers'),
    ('train', ['--widths', '64,128', '--bs', '16'], 'widths must be four positive channel counts'),
    ('train', ['--recipe', 'fast', '--widths', '64,128,256,512', '--bs', '16'], 'widths must be three positive channel counts'),
    ('train', ['--precision', 'half'], "invalid choice: 'half'"),
    ('train', ['--recipe', 'nope'], "argument --recipe: unknown recipe 'nope' in 'nope': choose from " + ', '.join(RECIPES)),
    ('train', ['--data', '/no/such/data'], 'not found at /no/such/data'),
    ('predict', ['/no/model.pkl', 'x.png'], 'no model file at /no/model.pkl'),
    ('predict', ['/no/model.pkl', 'x.png', '--top-k', '0'], 'expected a positive integer, got 0'),
    ('evaluate', ['/no/model.safetensors'], 'no model file at /no/model.safetensors'),
])
def test_bad_values_one_line(fake, command, args, message, capsys):
    "Run in this process (importing fastai once); `test_console_script_errors` checks the installed script itself."
    data = ['--data', str(fake)] if '--data' not in args and command != 'predict' else []
    try: rc = main([command, *data, *args])
    except SystemExit as e: rc = e.code  # argparse's errors
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize('args, message', [(['train', '--recipe', 'nope'], "unknown recipe 'nope'"),
                                           (['prepare', '--data', '/no/such/place'], 'not found at /no/such/place')])
def test_console_script_errors(args, message):
    r = run(*args)
    assert r.returncode == 2 and message in r.stderr
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_train_on_real_subset_end_to_end(real_data, tmp_path):
    "Train a small model on real images; it learns, and every number it reports is the one a fresh evaluation gets."
    r = run('train', '--data', real_data, '--subset', '50', '--bs', '50', '--epochs', '3', '--lr-max', '1e-2',
            '--widths', '16,32,64,128', '--seed', '0', '--precision', 'fp32', '--out', tmp_path/'models'/'m.pkl',
            '--report', tmp_path/'rep')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith('recipe era: bs 50, epochs 3, lr_max 0.01,')
    epoch_lines = [l for l in lines if l.startswith('epoch ')]
    assert [l.split()[1] for l in epoch_lines] == ['1/3', '2/3', '3/3']
    assert '\x1b' not in r.stdout and '\r' not in r.stdout  # no progress bars when stdout is not a terminal
    m = json.loads((tmp_path/'rep'/'metrics.json').read_text())
    assert (m['recipe']['lr_max'], m['recipe']['bs'], m['recipe']['widths']) == (1e-2, 50, [16, 32, 64, 128])
    acc = m['final_test_accuracy']
    assert f"test_acc {acc:.4f}" in epoch_lines[-1] and [h['epoch'] for h in m['history']] == [1, 2, 3]
    untrained = untrained_accuracy(real_data, 'era', subset=50, bs=50, widths=(16, 32, 64, 128))  # the same net, seed and test images, untrained
    assert acc > untrained + 0.1, f"500 real images, 3 epochs: {acc}, against {untrained} untrained"
    # history.png draws the history metrics.json holds: the same figure drawn here from those numbers, pixel for pixel
    names = ['train_loss', 'train_accuracy', 'valid_loss', 'valid_accuracy']
    ran = SimpleNamespace(recorder=SimpleNamespace(metric_names=['epoch', *names, 'time'], values=[[h[n] for n in names] for h in m['history']]))
    assert _pixels(plot_history(ran)).tolist() == np.asarray(Image.open(tmp_path/'rep'/'history.png')).tolist()
    per_class = (tmp_path/'rep'/'per_class.csv').read_text().splitlines()
    assert per_class[0] == 'class,n,correct,accuracy,most_confused_with,times' and len(per_class) == 11
    assert sum(int(l.split(',')[2]) for l in per_class[1:]) == round(acc * 500)
    for model in ('m.pkl', 'm.safetensors'):  # both exported files score what training reported, and draw the same confusion matrix
        e = run('evaluate', tmp_path/'models'/model, '--data', real_data, '--subset', '50', '--seed', '0', '--precision', 'fp32', '--report', tmp_path/model)
        assert e.returncode == 0, e.stderr
        assert e.stdout.split()[2] == f"{acc:.4f}", (model, e.stdout.splitlines()[0])
        assert (tmp_path/model/'per_class.csv').read_text() == (tmp_path/'rep'/'per_class.csv').read_text()
        assert (np.asarray(Image.open(tmp_path/model/'confusion_matrix.png')) == np.asarray(Image.open(tmp_path/'rep'/'confusion_matrix.png'))).all()


def _pixels(fig) -> np.ndarray:
    "The figure as the PNG file it would be saved as, read back."
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    return np.asarray(Image.open(buf))


@pytest.mark.slow
def test_lr_find_command(fake, tmp_path):
    r = run('lr-find', '--data', fake, '--bs', '16', '--widths', '8,16,32,64', '--seed', '0', '--out', tmp_path/'lr.png')
    assert r.returncode == 0, r.stderr
    first, wrote = r.stdout.splitlines()
    name, value = first.split()
    assert name == 'valley' and 1e-7 < float(value) < 10  # within the range lr_find explores
    assert wrote == f"wrote {tmp_path/'lr.png'}" and '\r' not in r.stdout
    # the same finder run here, with the same seed: the same suggestion, and the file is its plot, pixel for pixel
    import matplotlib.pyplot as plt
    from fastai.torch_core import set_seed
    from cifar_fast.augment import cifar_dls
    from cifar_fast.learner import cifar_learner
    from cifar_fast.recipes import get_recipe
    from cifar_fast.schedule import lr_suggestions
    set_seed(0)
    recipe = get_recipe('era', bs=16, widths=(8, 16, 32, 64))
    learn = cifar_learner(cifar_dls(fake, recipe=recipe, seed=0), recipe=recipe)
    assert f"{lr_suggestions(learn).valley:.2e}" == value
    learn.recorder.plot_lr_find()
    assert _pixels(plt.gcf()).tolist() == np.asarray(Image.open(tmp_path/'lr.png')).tolist()
    plt.close('all')


@pytest.mark.slow
def test_relative_paths_land_in_the_working_directory(fake, tmp_path):
    "train with a relative --report and --out: every file it says it wrote is under the working directory, with the umask's mode; the data folder is untouched."
    from cifar_fast.core import umask
    work = tmp_path/'work'
    work.mkdir()
    before = sorted(fake.rglob('*'))
    r = run('train', '--data', fake, '--bs', '16', '--epochs', '1', '--lr-max', '1e-2', '--widths', '8,16,32,64', '--precision', 'fp32',
            '--report', 'rep', '--out', 'models/m.pkl', '--keep-checkpoints', cwd=work)
    assert r.returncode == 0, r.stderr
    said = [l for l in r.stdout.splitlines() if l.startswith('wrote ')][-1]
    names, folder = said[len('wrote '):].rsplit(' to ', 1)
    assert folder == 'rep' and set(names.split(', ')) == {p.name for p in (work/'rep').iterdir()}, (said, list((work/'rep').iterdir()))
    assert 'exported the learner to models/m.pkl and the weights to models/m.safetensors' in r.stdout, r.stdout
    written = [p for p in work.rglob('*') if p.is_file()]
    assert {'m.pkl', 'm.safetensors', 'history.csv', 'index.html', 'checkpoint-001.pth'} <= {p.name for p in written}
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~umask() for p in written), [(p, oct(p.stat().st_mode)) for p in written]
    assert sorted(fake.rglob('*')) == before  # nothing written beside the data


@pytest.mark.parametrize('args, message', [(['--data', 'no-such-folder'], 'not found at'),
                                           (['--resume'], 'nothing to resume')])
def test_a_train_that_cannot_start_writes_nothing(fake, tmp_path, args, message):
    "A wrong --data, or --resume with nothing to resume: one line saying why, no recipe line, no folder left behind."
    data = [] if '--data' in args else ['--data', fake]
    work = tmp_path/'work'
    work.mkdir()
    r = run('train', *data, *args, '--bs', '16', '--epochs', '1', '--widths', '8,16,16,16', '--report', 'rep', cwd=work)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stdout == ''
    assert sorted(p.name for p in work.iterdir()) == []  # no models/, no models/cifar_era.checkpoints/, no rep/


@pytest.mark.slow
def test_train_in_process_leaves_the_process_as_it_was(fake, tmp_path, capsys):
    "`main(['train', ...])` from Python: stdout, the SIGTERM handler, WORLD_SIZE and the thread count are as before."
    import os, signal, sys, torch
    before = (sys.stdout, signal.getsignal(signal.SIGTERM), os.environ.get('WORLD_SIZE'), torch.get_num_threads())
    assert main(['train', '--data', str(fake), '--bs', '16', '--epochs', '1', '--widths', '8,16,16,16', '--lr-max', '1e-2',
                 '--out', str(tmp_path/'m.pkl')]) == 0
    assert 'test accuracy' in capsys.readouterr().out
    assert (sys.stdout, signal.getsignal(signal.SIGTERM), os.environ.get('WORLD_SIZE'), torch.get_num_threads()) == before
