"""The package's branches that run only on CUDA (listed in nbs/08_loop.ipynb), exercised on the CPU with what they call
of torch.cuda stood in for. CudaGraphs has its own file (tests/test_cuda_graphs_cpu.py)."""
import unittest.mock as mock

import pytest
import torch

from cifar_fast.core import BadValue, resolve_precision
from cifar_fast.optim import native_bf16


@pytest.mark.parametrize('bf16, want', [(True, 'bf16'), (False, 'fp16')])
def test_precision_on_a_gpu(bf16, want):
    with mock.patch('torch.cuda.is_bf16_supported', return_value=bf16):
        assert resolve_precision('auto', 'cuda') == want
        assert native_bf16(torch.device('cuda')) is bf16
        if not bf16:
            with pytest.raises(BadValue, match='does not support bfloat16'): resolve_precision('bf16', 'cuda')


def test_checkpoints_keep_the_gpu_random_state():
    from cifar_fast.checkpoint import rng_states, set_rng_states
    saved, put = [torch.arange(4, dtype=torch.uint8)], []
    with mock.patch('torch.cuda.is_available', return_value=True), \
         mock.patch('torch.cuda.get_rng_state_all', return_value=saved), \
         mock.patch('torch.cuda.set_rng_state_all', side_effect=put.append):
        st = rng_states()
        assert st['cuda'] is saved
        set_rng_states(st)
    assert len(put) == 1 and torch.equal(put[0][0], saved[0])


def test_nan_is_caught_at_the_epoch_end_when_the_host_cannot_look(tmp_path):
    "StopOnNaN's path for GPUs (no host read per batch) is the one a graphed step takes: run here through the CPU stand-in."
    from fastai.callback.core import Callback
    from cifar_fast.augment import cifar_dls
    from cifar_fast.checkpoint import StopOnNaN, TrainingDiverged
    from cifar_fast.data import synthetic_cifar10
    from cifar_fast.learner import cifar_learner
    from cifar_fast.loop import CudaGraphs
    from cifar_fast.recipes import get_recipe
    from graph_standin import STANDIN
    r = get_recipe('fast', bs=16, epochs=3, widths=(8, 8, 8), precision='fp32', tta=0)
    learn = cifar_learner(cifar_dls(synthetic_cifar10(tmp_path/'fake', n_train=8, n_test=2), recipe=r, seed=0), recipe=r,
                          cbs=[CudaGraphs(warmup=1, api=STANDIN)])
    class Poison(Callback):  # a NaN in the weights from epoch 2 on, written between steps
        def after_batch(self):
            if self.training and self.epoch == 1 and self.iter == 1:
                with torch.no_grad(): learn.model.whiten.bias.fill_(float('nan'))
    seen = []
    class Epochs(Callback):
        order = 90  # after StopOnNaN (5)
        def after_train(self): seen.append(self.epoch)
    with pytest.raises(TrainingDiverged, match='NaN or infinite in epoch 2'):
        with learn.no_logging(), learn.no_bar(): learn.fit_recipe(cbs=[StopOnNaN(), Poison(), Epochs()])
    assert seen == [0]  # epoch 2 raised at its end, before later callbacks saw it
