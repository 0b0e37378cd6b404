"""`CudaGraphs` on the CPU, through a stand-in for torch.cuda's graphs (tests/graph_standin.py: records the captured
step's operations, runs nothing while capturing, runs them again at each replay, fails on host reads): a graphed fit
ends with the same weights, bit for bit, as the plain loop, for the fast and muon recipes with everything that changes
a graph (whitening-bias switch, lookahead, a fraction of an epoch, a partial last batch, a resume), autocast entered
and left once per batch, one graph for a scheduled momentum, and nothing left behind by an exception."""
import warnings

import pytest
import torch

from cifar_fast.augment import cifar_dls
from cifar_fast.checkpoint import Checkpoint, Resume, load_checkpoint
from cifar_fast.data import synthetic_cifar10
from cifar_fast.learner import cifar_learner
from cifar_fast.history import history
from cifar_fast.loop import CudaGraphs
from cifar_fast.recipes import get_recipe
from fastai.callback.core import Callback
from fastai.torch_core import set_seed

from graph_standin import STANDIN, HostRead

pytestmark = pytest.mark.slow  # every test here trains a (tiny) model


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return synthetic_cifar10(tmp_path_factory.mktemp('graphs')/'fake', n_train=7, n_test=2)  # 70 images: 4 batches of 16 and one of 6


class AutocastBalanced(Callback):
    "After every batch, autocast is left as many times as it was entered: its nesting is back to 0."
    order = 100
    def before_fit(self): self.batches = 0
    def after_batch(self):
        depth = torch.autocast_increment_nesting() - 1
        torch.autocast_decrement_nesting()
        assert depth == 0 and not torch.is_autocast_enabled('cpu'), f"autocast nesting {depth} after batch {self.iter} of epoch {self.epoch}"
        self.batches += 1


def small(name, **changes):
    base = dict(bs=16, epochs=3.5, whiten_bias_epochs=1, widths=(8, 16, 16), precision='bf16', tta=0)
    return get_recipe(name, **{**base, **changes})


def learner(data, r, graphs=None, cbs=()):
    set_seed(0)
    dls = cifar_dls(data, recipe=r, seed=0)
    dls.train.drop_last = False  # a partial last batch: a graph of its own
    return cifar_learner(dls, recipe=r, cbs=[AutocastBalanced(), *cbs] + ([graphs] if graphs else []))


def fit(learn, **kwargs):
    with learn.no_logging(), learn.no_bar(): learn.fit_recipe(**kwargs)
    return learn


def assert_same_weights(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa: assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize('recipe', ['fast', 'muon'])
def test_graphed_fit_equals_the_plain_loop(data, recipe):
    r = small(recipe, lookahead_every=2)
    plain = fit(learner(data, r))
    cg, held = CudaGraphs(warmup=1, max_graphs=2, api=STANDIN), []
    class Held(Callback):
        def after_batch(self): held.append(len(cg.graphs))
    graphed = fit(learner(data, r, cg, cbs=[Held()]))
    assert_same_weights(plain, graphed)
    assert history(graphed)['valid_accuracy'][-1] == history(plain)['valid_accuracy'][-1]
    # 3.5 epochs of 5 batches (4 of 16, 1 of 6): 18 steps. Kinds of batch: full and partial, each with the whitening bias
    # training (epoch 1) and not: one ordinary step for each kind; graphs for the full batches (both) and the partial one
    # without the bias (met in epoch 3), replayed for the other 18 - 4 steps, a capture's own batch included
    assert cg.stats == {'captured': 3, 'replayed': 14, 'eager': 4}, cg.stats
    assert max(held) == 2  # max_graphs: the least recently used graph was dropped
    assert graphed.graphed is None and cg.graphs == {} and graphed.opt._tensors is None  # let go after the fit
    assert graphed.model.whiten.bias.requires_grad  # the whitening bias trains again in a next fit


def test_resume_from_a_checkpoint_with_graphs(data, tmp_path):
    r = small('fast', epochs=3)
    whole = fit(learner(data, r))
    class Crash(Callback):
        def after_batch(self):
            if self.training and self.epoch == 1 and self.iter == 2: raise KeyboardInterrupt
    crashed = learner(data, r, CudaGraphs(warmup=1, api=STANDIN))
    with pytest.raises(KeyboardInterrupt): fit(crashed, cbs=[Checkpoint(tmp_path), Crash()])
    assert crashed.graphed is None and crashed.opt._tensors is None  # nothing left stepping after the exception
    cg = CudaGraphs(warmup=1, api=STANDIN)
    resumed = fit(learner(data, r, cg), cbs=[Checkpoint(tmp_path), Resume(load_checkpoint(tmp_path/'checkpoint-001.pth'))])
    assert cg.stats['replayed'] > 0
    assert_same_weights(whole, resumed)


def test_scheduled_momentum_makes_no_graph_per_batch(data):
    "SGD with fit_one_cycle: momentum and learning rate change every batch; they reach the step through tensors."
    r = small('fast', epochs=2, schedule='one_cycle', whiten_bias_epochs=0, lookahead_every=0, lr_max=0.5)
    cg, moms = CudaGraphs(warmup=1, api=STANDIN), []
    class SeenMomenta(Callback):
        def after_batch(self):
            if self.training: moms.append(self.opt.hypers[0]['mom'])
    graphed, plain = fit(learner(data, r, cg, cbs=[SeenMomenta()])), fit(learner(data, r))
    assert len(set(moms)) == len(moms) == 10  # a momentum per step
    assert cg.stats == {'captured': 2, 'replayed': 8, 'eager': 2}, cg.stats  # the full batches' graph and the partial batch's
    assert_same_weights(plain, graphed)


def test_an_exception_mid_fit_leaves_the_learner_as_it_was(data):
    r = small('fast', epochs=2)
    learn = learner(data, r, CudaGraphs(warmup=1, api=STANDIN))
    class Stop(Callback):
        def after_batch(self):
            if self.training and self.iter == 3: raise RuntimeError('stop here')
    with pytest.raises(RuntimeError, match='stop here'): fit(learn, cbs=Stop())
    assert learn.graphed is None and '_do_one_batch' not in vars(learn) and learn.opt._tensors is None
    cg = next(cb for cb in learn.cbs if isinstance(cb, CudaGraphs))
    assert cg.graphs == {} and cg.stats['captured'] == 1
    sug = learn.lr_find(show_plot=False, num_it=5)  # fastai's lr_find runs its own loop, never a graph
    assert sug.valley > 0 and cg.stats['captured'] == 0


@pytest.mark.parametrize('graphs', [False, True])
def test_ctrl_c_inside_the_forward_pass_leaves_autocast(data, graphs):
    "Ctrl-C between autocast's entry (before_batch) and its exit (after_loss): the fit's end leaves it, graphed or not."
    learn = learner(data, small('fast', epochs=2), CudaGraphs(warmup=1, api=STANDIN) if graphs else None)
    class CtrlC(Callback):
        order = 20  # after MixedPrecision's after_pred
        def after_pred(self):
            if self.training and self.epoch == 1: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): fit(learn, cbs=CtrlC())
    assert torch.autocast_increment_nesting() == 1 and not torch.is_autocast_enabled('cpu')
    torch.autocast_decrement_nesting()


def test_what_cannot_be_captured_is_refused(data):
    r = small('fast', epochs=1)
    # optimiser state made inside a capture: no warm-up
    with pytest.raises(RuntimeError, match='new state inside a captured step'): fit(learner(data, r, CudaGraphs(warmup=0, api=STANDIN)))
    # a callback that says it can be captured but reads the loss on the host
    class Reads(Callback):
        graph_safe = True
        def after_loss(self): self.last = self.loss.item()
    with pytest.raises(RuntimeError, match=r'capturing the training step .* failed \(.*`Reads`.*`after_loss`: the captured step reads a tensor on the host \(item\)\)') as e:
        fit(learner(data, r, CudaGraphs(warmup=1, api=STANDIN), cbs=[Reads()]))
    assert isinstance(e.value.__cause__, HostRead)
    # refused before the fit, with a warning, and trained without graphs: MixUp's host values; fastai's Adam (the era recipe)
    from fastai.callback.mixup import MixUp
    for learn, why in ((learner(data, r, CudaGraphs(api=STANDIN), cbs=[MixUp()]), 'MixUp acts in the training step'),
                       (learner(data, get_recipe('era', bs=16, epochs=1, widths=(8, 8, 8, 8), lr_max=1e-3), CudaGraphs(api=STANDIN)),
                        'does not read its learning rate and momentum from tensors')):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            fit(learn)
        assert any(why in str(w.message) for w in caught), [str(w.message) for w in caught]
        assert next(cb for cb in learn.cbs if isinstance(cb, CudaGraphs)).stats['captured'] == 0
    # data-parallel training: DDP's hooks are not captured here
    import os, unittest.mock
    learn, cg = learner(data, r), CudaGraphs(api=STANDIN)
    cg.learn = learn
    learn.create_opt()
    with unittest.mock.patch.dict(os.environ, {'WORLD_SIZE': '2'}), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert not cg._supported()
    assert 'data-parallel training' in str(caught[0].message)
