"""What only a GPU can test: the training step captured in a CUDA graph (`cifar_fast.loop.CudaGraphs`) trains as the
ordinary loop does. Skipped, saying so, where no CUDA device is present; it runs on the first CUDA device there is.
Its host-side logic is tested on the CPU through a stand-in (tests/test_cuda_graphs_cpu.py)."""
import time

import pytest
import torch

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU (none here): run where one is lent')


@needs_cuda
@pytest.mark.parametrize('recipe', ['fast', 'muon'])
def test_cuda_graphs_train_as_the_loop_does(tmp_path, recipe):
    from fastai.callback.core import Callback
    from cifar_fast.augment import cifar_dls
    from cifar_fast.data import synthetic_cifar10
    from cifar_fast.learner import cifar_learner
    from cifar_fast.history import history
    from cifar_fast.loop import CudaGraphs
    from cifar_fast.recipes import get_recipe
    data = synthetic_cifar10(tmp_path/'fake', n_train=70, n_test=8)  # 700 images: 10 batches of 64 and one of 60
    r = get_recipe(recipe, bs=64, epochs=4.5, whiten_bias_epochs=2, widths=(32, 64, 64), tta=0)
    class Balanced(Callback):
        order = 100
        def after_batch(self):
            assert not torch.is_autocast_enabled('cuda') and torch.autocast_increment_nesting() == 1
            torch.autocast_decrement_nesting()
    def fit(graphs: bool):
        torch.manual_seed(0)
        dls = cifar_dls(data, recipe=r, seed=0, device='cuda')
        dls.train.drop_last = False
        learn = cifar_learner(dls, recipe=r, cuda_graphs=graphs, cbs=Balanced())
        t = time.perf_counter()
        with learn.no_logging(), learn.no_bar(): learn.fit_recipe()
        torch.cuda.synchronize()
        return learn, time.perf_counter() - t
    (plain, t_plain), (graphed, t_graphed) = fit(False), fit(True)
    cg = next(cb for cb in graphed.cbs if isinstance(cb, CudaGraphs))
    # 4.5 x 11 = 50 steps. Kinds of batch: 64 and 60 images, each with the whitening bias training (epochs 1-2) and not:
    # 3 ordinary steps for each kind first; the full batches' kinds are then captured (2 graphs), the partial batch (once
    # an epoch) never reaches its 4th; replays: the other 40 steps (the same counts as the CPU stand-in gives)
    assert cg.stats == {'captured': 2, 'replayed': 40, 'eager': 10}, cg.stats
    assert cg.graphs == {} and graphed.graphed is None  # let go after the fit
    for k, v in plain.model.state_dict().items():
        if v.is_floating_point(): torch.testing.assert_close(graphed.model.state_dict()[k], v, rtol=2e-2, atol=2e-2)  # bf16's rounding
    assert abs(history(graphed)['valid_accuracy'][-1] - history(plain)['valid_accuracy'][-1]) <= 0.02
    print(f"{recipe}: {t_plain:.2f}s without CUDA graphs, {t_graphed:.2f}s with ({cg.stats})")
