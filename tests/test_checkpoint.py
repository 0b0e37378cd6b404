"Crashes, as they happen to a real process: SIGKILL and Ctrl-C in the middle of an epoch, then `--resume`; a kill during an export."
import re, signal, subprocess, sys, textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cifar_fast.cli import main
from cifar_fast.data import synthetic_cifar10

from conftest import CLI, KILLER

pytestmark = pytest.mark.slow  # every test here trains or serves a model



@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    return synthetic_cifar10(tmp_path_factory.mktemp('ckpt')/'fake', n_train=8, n_test=4)


def train_args(data, out, recipe='era'):
    widths = '8,16,32,64' if recipe == 'era' else '8,16,16'
    lr = ['--lr-max', '1e-2'] if recipe == 'era' else []
    return ['train', '--recipe', recipe, '--data', str(data), '--bs', '16', '--epochs', '3', *lr, '--widths', widths,
            '--seed', '0', '--precision', 'fp32', '--out', str(out)]


def test_resume_after_sigkill_and_ctrl_c(tmp_path, data, capsys, recipe='era'):
    "80 training images in batches of 16: 5 batches an epoch; batch 8 is the third of epoch 2. (nbs/03a_checkpoint.ipynb checks both recipes in-process.)"
    script = tmp_path/'killer.py'
    script.write_text(KILLER)
    runs = {'whole': subprocess.Popen([CLI, *train_args(data, tmp_path/'whole'/'m.pkl', recipe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)}
    for name, sig in (('killed', 'SIGKILL'), ('ctrl_c', 'SIGINT'), ('term', 'SIGTERM')):
        runs[name] = subprocess.Popen([sys.executable, str(script), '8', sig, *train_args(data, tmp_path/name/'m.pkl', recipe)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = {name: (p.wait(timeout=300), *p.communicate()) for name, p in runs.items()}
    assert done['whole'][0] == 0, done['whole'][2]
    assert done['killed'][0] == -signal.SIGKILL, done['killed'][2]
    for name, rc_want, how in (('ctrl_c', 130, 'interrupted'), ('term', 143, 'stopped (SIGTERM)')):  # SIGTERM: kill, timeout, job schedulers
        rc, out, err = done[name]
        assert rc == rc_want and len(err.strip().splitlines()) == 1, err
        args = train_args(data, tmp_path/name/'m.pkl', recipe)
        assert err.strip() == (f"cifar-fast train: {how} in epoch 2; saved {tmp_path/name/'m.checkpoints'/'checkpoint-001.pth'}; "
                               f"resume with: cifar-fast {' '.join(args)} --resume")
    for name in ('killed', 'ctrl_c', 'term'):
        assert sorted(p.name for p in (tmp_path/name/'m.checkpoints').iterdir()) == ['checkpoint-001.pth'], name
    # without --resume, an unfinished run is not overwritten
    assert main(train_args(data, tmp_path/'killed'/'m.pkl', recipe)) == 2
    assert 'holds an unfinished run (epoch 1 of 3): continue it with --resume' in capsys.readouterr().err
    resumed = {name: subprocess.Popen([CLI, *train_args(data, tmp_path/name/'m.pkl', recipe), '--resume'], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for name in ('killed', 'ctrl_c', 'term')}
    whole = load_file(tmp_path/'whole'/'m.safetensors')
    final_line = [l for l in done['whole'][1].splitlines() if l.startswith('test accuracy')][0].split(' after')[0]
    for name, p in resumed.items():
        rc, out, err = p.wait(timeout=300), *p.communicate()
        assert rc == 0, err
        assert 'resuming from' in out and 'epoch 1 of 3 done' in out, out
        assert [l.split()[1] for l in out.splitlines() if l.startswith('epoch ')] == ['2/3', '3/3'], out  # epoch 1 not retrained, nor printed
        assert final_line in out, (final_line, out)
        got = load_file(tmp_path/name/'m.safetensors')
        assert got.keys() == whole.keys()
        for k in whole: assert torch.equal(got[k], whole[k]), (name, k)


def test_resume_without_checkpoint(tmp_path, data, capsys):
    rc = main([*train_args(data, tmp_path/'m.pkl'), '--resume'])
    err = capsys.readouterr().err
    assert rc == 2 and err == f"cifar-fast train: error: no checkpoint in {tmp_path/'m.checkpoints'}: nothing to resume (train without --resume to start)\n"


DYING_EXPORT = textwrap.dedent('''
    import io, os, signal, sys
    import torch, safetensors.torch
    from cifar_fast.all import *
    kind, data, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    learn = cifar_learner(cifar_dls(data, bs=16), CustomResNet(widths=(8, 16, 32, 64)))
    save = learn.export if kind == 'learner' else learn.export_weights
    save(out)  # a good file
    out.with_name('first').write_bytes(out.read_bytes())
    with torch.no_grad(): learn.model[0][0].weight.add_(1.)  # the next export differs
    real_save, real_save_file = torch.save, safetensors.torch.save_file
    def half_then_die(write):
        def dying(obj, f, *args, **kwargs):
            buf = io.BytesIO() if write is real_save else None
            if buf is not None: write(obj, buf, *args, **kwargs); data = buf.getvalue()
            else: data = safetensors.torch.save(obj, *args, **kwargs)
            with open(f, 'wb') as fh: fh.write(data[:len(data) // 2]); fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of writing
        return dying
    torch.save = half_then_die(real_save)
    safetensors.torch.save_file = half_then_die(real_save_file)
    save(out)
''')


@pytest.mark.parametrize('kind, name', [('learner', 'm.pkl'), ('weights', 'm.safetensors')])
def test_export_killed_midway_leaves_previous_file(tmp_path, data, kind, name):
    script = tmp_path/'dying.py'
    script.write_text(DYING_EXPORT)
    r = subprocess.run([sys.executable, str(script), kind, str(data), str(tmp_path/name)], capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert (tmp_path/name).read_bytes() == (tmp_path/'first').read_bytes()  # the previous export, whole
    from cifar_fast.inference import classifier_from_file
    assert classifier_from_file(tmp_path/name).predict(next((data/'test').rglob('*.png'))).ok


def test_nan_loss_stops_with_epoch_and_batch(tmp_path, data, capsys):
    "A learning rate of 1e30 makes the loss NaN at once: one line naming where, exit status 1, nothing exported."
    args = train_args(data, tmp_path/'m.pkl')
    rc = main([*args[:args.index('--lr-max') + 1], '1e30', *args[args.index('--lr-max') + 2:]])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1, err
    assert re.fullmatch(r"cifar-fast train: error: the training loss became (nan|inf|-inf) in epoch \d+, batch \d+: training stopped; "
                        r"(the last good checkpoint is \S+|no epoch had finished, so there is no checkpoint) \(try a lower --lr-max\)\n", err), err
    assert not (tmp_path/'m.pkl').exists() and not (tmp_path/'m.safetensors').exists()
