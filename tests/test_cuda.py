"""What only a GPU can test: the training step captured in a CUDA graph (`cifar_fast.loop.CudaGraphs`) trains as the
ordinary loop does. Skipped, saying so, where no CUDA device is present; run on a lent GPU (README, BENCHMARKS.md)."""
import time

import pytest
import torch

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU (none here): run where one is lent')


@needs_cuda
def test_cuda_graphs_train_as_the_loop_does(tmp_path):
    from cifar_fast.augment import cifar_dls
    from cifar_fast.data import synthetic_cifar10
    from cifar_fast.learner import cifar_learner, history
    from cifar_fast.loop import CudaGraphs
    from cifar_fast.recipes import get_recipe
    data = synthetic_cifar10(tmp_path/'fake', n_train=64, n_test=8)
    r = get_recipe('fast', bs=64, epochs=5, whiten_bias_epochs=2, widths=(32, 64, 64))
    def fit(graphs:bool):
        torch.manual_seed(0)
        learn = cifar_learner(cifar_dls(data, recipe=r, seed=0, device='cuda'), recipe=r, cuda_graphs=graphs)
        t = time.perf_counter()
        with learn.no_logging(), learn.no_bar(): learn.fit_recipe()
        torch.cuda.synchronize()
        return learn, time.perf_counter() - t
    (plain, t_plain), (graphed, t_graphed) = fit(False), fit(True)
    cg = next(cb for cb in graphed.cbs if isinstance(cb, CudaGraphs))
    assert len(cg.graphs) == 2  # one while the whitening bias trains, one after
    for k, v in plain.model.state_dict().items():
        if v.is_floating_point(): torch.testing.assert_close(graphed.model.state_dict()[k], v, rtol=1e-2, atol=1e-2)
    assert abs(history(graphed)['valid_accuracy'][-1] - history(plain)['valid_accuracy'][-1]) < 0.05
    print(f"5 epochs: {t_plain:.2f}s without CUDA graphs, {t_graphed:.2f}s with")
