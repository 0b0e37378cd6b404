"The Learner: precision really applied, reproducibility, export without __main__."
import subprocess, sys

import pytest
import torch
from fastai.torch_core import set_seed

from cifar_fast.augment import cifar_dls
from cifar_fast.learner import EpochLog, cifar_learner, cpu_has_bf16
from cifar_fast.model import CustomResNet

TINY = (8, 16, 32, 64)


def _fit_one_epoch(fake, seed, precision='fp32'):
    set_seed(seed)
    dls = cifar_dls(fake, bs=16, seed=seed, device='cpu')
    lines = []
    learn = cifar_learner(dls, CustomResNet(widths=TINY), precision=precision, cbs=EpochLog(lines.append))
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-2)
    return learn, [float(v) for v in learn.recorder.values[0]]


def test_same_seed_same_first_epoch(fake):
    _, a = _fit_one_epoch(fake, 3)
    _, b = _fit_one_epoch(fake, 3)
    _, c = _fit_one_epoch(fake, 4)
    assert a == b
    assert a != c


@pytest.mark.skipif(not cpu_has_bf16(), reason='this CPU has no native bf16')
def test_auto_precision_autocasts_bf16_on_cpu(fake):
    dls = cifar_dls(fake, bs=16, seed=0, device='cpu')
    learn = cifar_learner(dls, CustomResNet(widths=TINY))
    assert learn.precision == 'bf16'
    seen = []
    learn.model[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert seen and all(d == torch.bfloat16 for d in seen)
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())  # master weights stay fp32


def test_fp32_when_asked(fake):
    dls = cifar_dls(fake, bs=16, seed=0, device='cpu')
    learn = cifar_learner(dls, CustomResNet(widths=TINY), precision='fp32')
    seen = []
    learn.model[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert learn.precision == 'fp32' and set(seen) == {torch.float32}


def test_exported_learner_loads_in_a_fresh_process(fake, tmp_path):
    learn, _ = _fit_one_epoch(fake, 0, precision='auto')
    learn.remove_cb(EpochLog)
    learn.export(tmp_path/'model.pkl')
    img = next((fake/'test'/'cat').iterdir())
    code = ("from fastai.learner import load_learner; import sys; "
            "learn = load_learner(sys.argv[1]); print(learn.predict(sys.argv[2])[0])")
    r = subprocess.run([sys.executable, '-c', code, str(tmp_path/'model.pkl'), str(img)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] in learn.dls.vocab
