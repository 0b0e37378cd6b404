"""The Learner's own cost per batch, measured on the CPU: (a) a bare forward+backward+step loop against (b) the fast
recipe's Learner (its callbacks, `BatchAugDL`, optimiser, lookahead, Recorder) on the same tiny net (widths 4,8,8), one
thread, fp32, at two batch sizes. At batch 4 the net's compute is small, so (b)-(a) is the loop's own per-batch cost:
what a GPU would wait for on the host if the loop were not faster than the GPU's step.

(a): ready normalised tensors, `torch.optim.SGD` (Nesterov, the recipe's momentum and weight decay), the recipe's loss.
(b): `cifar_learner(dls, recipe=fast with bs and widths)`, `learn.fit_recipe()`, timed from the first to the last
training batch of each epoch (the loader's stacking done before timing), all of fastai's per-batch work included.
Interleaved repeats; medians. On the CPU the clock is this process's CPU time (one thread: other tenants' load on a
shared machine does not count); on a GPU, wall time after a sync.

    python bench/overhead.py [--batches 200] [--repeats 5] [--bs 4 64] [--threads 1] [--profile]
"""
import argparse, cProfile, pstats, statistics, sys, tempfile, time
from pathlib import Path

import torch
from cifar_fast.core import quiet_imports
with quiet_imports():
    from fastai.callback.core import Callback
from timing import sync  # bench/timing.py

from cifar_fast.augment import cifar_dls
from cifar_fast.core import precision_autocast
from cifar_fast.data import synthetic_cifar10
from cifar_fast.learner import cifar_learner
from cifar_fast.model import unwrap
from cifar_fast.recipes import get_recipe



def clock(device) -> float:
    "The CPU time this process used, on the CPU (other tenants' load does not count); wall time after a sync on a GPU."
    sync(device)
    return time.process_time() if device is None or torch.device(device).type == 'cpu' else time.perf_counter()


class BatchClock(Callback):
    "Seconds per training batch, from the first batch's start to the last one's end, per epoch."
    order = 100
    def before_fit(self): self.per_batch = []
    def before_train(self): self.t0, self.n = None, 0
    def before_batch(self):
        if self.training and self.t0 is None: self.t0 = clock(self.dls.device)
    def after_batch(self):
        if self.training: self.n += 1
    def after_train(self):
        self.per_batch.append((clock(self.dls.device) - self.t0) / self.n)


def learner(data, bs, device=None, widths=(4, 8, 8), precision='fp32'):
    r = get_recipe('fast', bs=bs, widths=widths, epochs=2, precision=precision)
    learn = cifar_learner(cifar_dls(data, recipe=r, seed=0, device=device), recipe=r)
    learn.dls.train.stacked(); learn.dls.valid.stacked()  # stacking is start-up, not per batch
    return learn


def learner_ms(learn) -> float:
    "(b): ms per training batch of the recipe's own fit (the second epoch's, after warm-up)."
    clock = BatchClock()
    with learn.no_logging(), learn.no_bar(): learn.fit_recipe(cbs=clock)
    return clock.per_batch[-1] * 1000


def bare_ms(learn, n:int) -> float:
    "(a): ms per step of forward, loss, backward, SGD step and zero_grad on ready tensors, same net, loss and batches."
    r, dl = learn.recipe, learn.dls.train
    net = unwrap(learn.model).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=r.mom, nesterov=True, weight_decay=r.wd)
    loss_func = torch.nn.CrossEntropyLoss(label_smoothing=r.label_smoothing)
    x, y = dl.stacked()
    mean, std = (torch.tensor(s, device=x.device).view(1, 3, 1, 1) for s in r.stats)
    batches = [(((x[i:i + r.bs].float() / 255) - mean) / std, y[i:i + r.bs].as_subclass(torch.Tensor)) for i in range(0, n * r.bs, r.bs)]
    cast = lambda: precision_autocast(learn.precision, x.device)
    for xb, yb in batches[:5]:  # warm-up
        with cast(): out = net(xb)
        loss_func(out.float(), yb).backward(); opt.step(); opt.zero_grad()
    t = clock(x.device)
    for xb, yb in batches:
        with cast(): out = net(xb)
        loss_func(out.float(), yb).backward()
        opt.step(); opt.zero_grad()
    return (clock(x.device) - t) / len(batches) * 1000


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--batches', type=int, default=200, help='training batches per epoch')
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--bs', type=int, nargs='+', default=[4, 64])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--device', default='cpu')
    p.add_argument('--widths', default='4,8,8', help='the net; 64,256,256 is the recipe\'s own')
    p.add_argument('--precision', default='fp32')
    p.add_argument('--profile', action='store_true', help="also print cProfile's top functions of one (b) run at the first batch size")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    rows = {}
    for bs in args.bs:
        per_class = max(1, -(-bs * args.batches // 10))
        data = synthetic_cifar10(tmp/f'bs{bs}', n_train=per_class, n_test=1)
        learn = learner(data, bs, args.device, tuple(int(w) for w in args.widths.split(',')), args.precision)
        a, b = [], []
        for _ in range(args.repeats):  # interleaved
            a.append(bare_ms(learn, len(learn.dls.train)))
            b.append(learner_ms(learn))
        rows[bs] = statistics.median(a), statistics.median(b)
        if args.profile and bs == args.bs[0]:
            prof = cProfile.Profile(); prof.enable(); learner_ms(learn); prof.disable()
            pstats.Stats(prof, stream=sys.stdout).sort_stats('tottime').print_stats(25)
    print(f"widths {args.widths}, {args.threads} thread(s), {args.precision}, {args.device}, {args.batches} batches an epoch, medians of {args.repeats}")
    print("| batch | (a) bare loop, ms/batch | (b) Learner, ms/batch | (b)-(a) ms | (b)/(a) |")
    print("|---|---|---|---|---|")
    for bs, (a, b) in rows.items(): print(f"| {bs} | {a:.2f} | {b:.2f} | {b - a:.2f} | {b / a:.2f} |")


if __name__ == '__main__': main()
