"The Learner: precision really applied, reproducibility, progress output in scripts and terminals, export without __main__."
import os, pty, select, subprocess, sys

import pytest
import torch
from fastai.torch_core import set_seed

from cifar_fast.augment import cifar_dls
from cifar_fast.core import cpu_has_bf16
from cifar_fast.learner import cifar_learner
from cifar_fast.model import CustomResNet

TINY = (8, 16, 32, 64)


def _fit_one_epoch(fake, seed, precision='fp32'):
    set_seed(seed)
    dls = cifar_dls(fake, bs=16, seed=seed, device='cpu')
    learn = cifar_learner(dls, CustomResNet(widths=TINY), precision=precision)
    with learn.no_logging(): learn.fit_one_cycle(1, 1e-2)
    return learn, [float(v) for v in learn.recorder.values[0]]


@pytest.mark.slow
def test_same_seed_same_first_epoch(fake):
    _, a = _fit_one_epoch(fake, 3)
    _, b = _fit_one_epoch(fake, 3)
    _, c = _fit_one_epoch(fake, 4)
    assert a == b
    assert a != c


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_bf16(), reason='this CPU has no native bf16')
def test_auto_precision_autocasts_bf16_on_cpu(fake):
    dls = cifar_dls(fake, bs=16, seed=0, device='cpu')
    learn = cifar_learner(dls, CustomResNet(widths=TINY))
    assert learn.precision == 'bf16'
    seen = []
    learn.model[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with learn.no_logging(): learn.fit(1, 1e-3)
    assert seen and all(d == torch.bfloat16 for d in seen)
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())  # master weights stay fp32


@pytest.mark.slow
@pytest.mark.parametrize('precision, dtype', [('fp32', torch.float32), ('bf16', torch.bfloat16)])
def test_precision_when_asked(fake, precision, dtype):
    dls = cifar_dls(fake, bs=16, seed=0, device='cpu')
    learn = cifar_learner(dls, CustomResNet(widths=TINY), precision=precision)
    seen = []
    learn.model[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with learn.no_logging(): learn.fit(1, 1e-3)
    assert learn.precision == precision and set(seen) == {dtype}


SCRIPT = """
import sys
from cifar_fast.augment import cifar_dls
from cifar_fast.learner import cifar_learner
from cifar_fast.model import CustomResNet
learn = cifar_learner(cifar_dls(sys.argv[1], bs=16, seed=0), CustomResNet(widths=(8, 16, 32, 64)))
learn.fit_one_cycle(2, 1e-2)
learn.get_preds()
print('done')
"""


@pytest.mark.slow
def test_script_output_is_one_line_per_epoch(fake, tmp_path):
    "A plain `learn.fit_one_cycle` in a script whose output goes to a file: no progress bars, a line per epoch."
    log = tmp_path/'log.txt'
    with open(log, 'w') as f:
        r = subprocess.run([sys.executable, '-c', SCRIPT, str(fake)], stdout=f, stderr=subprocess.PIPE, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    text = log.read_text()
    assert '\r' not in text and '\x1b' not in text, text[:300]
    lines = text.splitlines()
    assert [l.split()[:2] for l in lines[:-1]] == [['epoch', '1/2'], ['epoch', '2/2']] and lines[-1] == 'done', lines
    assert all('train_loss' in l and 'test_acc' in l for l in lines[:2])


@pytest.mark.slow
def test_terminal_output_has_progress_bars(fake):
    "The same script in a terminal (a pseudo-terminal here) draws fastai's bars and table."
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, '-c', SCRIPT, str(fake)], stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    out = b''
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready: break
        try: chunk = os.read(master, 65536)
        except OSError: break  # the child closed the terminal
        if not chunk: break
        out += chunk
    assert p.wait(timeout=60) == 0
    text = out.decode(errors='replace')
    assert '\r' in text and '|' in text  # fastprogress' console bars
    assert 'train_loss' in text and 'valid_accuracy' in text  # fastai's table header, not our plain lines
    assert 'epoch   1/2' not in text


@pytest.mark.slow
def test_exported_learner_loads_in_a_fresh_process(fake, tmp_path):
    learn, _ = _fit_one_epoch(fake, 0, precision='auto')
    learn.export(tmp_path/'model.pkl')
    img = next((fake/'test'/'cat').iterdir())
    code = ("from fastai.learner import load_learner; import sys; "
            "learn = load_learner(sys.argv[1]); print(learn.predict(sys.argv[2])[0])")
    r = subprocess.run([sys.executable, '-c', code, str(tmp_path/'model.pkl'), str(img)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] in learn.dls.vocab
