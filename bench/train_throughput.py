"""Training throughput, side by side in one run: (a) forward+backward+step on ready tensors (the limit),
(b) a plain PyTorch loop in the reference's style (torch Dataset + DataLoader + albumentations, no fastai),
(c) cifar_learner + fit_one_cycle. Same model, batch size, data and augmentation; each in fp32 and the automatic
precision; configurations interleaved over several repeats; medians of images/s over the timed training batches.

    python bench/train_throughput.py --data ../shared/data/cifar10-jpg.tgz [--bs 512] [--batches 3] [--repeats 3]

`--phases` instead times where a training batch's time goes in (b) and (c), in the automatic precision: making the
batch (data), forward and loss, backward, optimiser step, the rest; medians in ms per batch over the timed batches.
"""
import argparse, statistics, time

import torch
from torch.utils.data import DataLoader, Dataset
from fastai.callback.core import Callback, CancelFitException
from fastai.torch_core import set_seed
from timing import TrainTimer  # bench/timing.py

from cifar_fast.augment import cifar_dls, era_augs
from cifar_fast.core import precision_autocast, resolve_precision
from cifar_fast.recipes import ERA
from cifar_fast.images import image_array
from cifar_fast.learner import cifar_learner
from cifar_fast.model import CustomResNet


def new_model():
    return CustomResNet().to(memory_format=torch.channels_last)


def step_loop(model, batches, prec):
    "Train `model` on `batches` (an iterable of (x, y)); images/s over all but the first (warm-up) batch."
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn, n, t0 = torch.nn.CrossEntropyLoss(), 0, None
    for i, (x, y) in enumerate(batches):
        if i == 1: t0 = time.perf_counter()
        with precision_autocast(prec, 'cpu'): loss = loss_fn(model(x).float(), y)
        loss.backward(); opt.step(); opt.zero_grad()
        if i >= 1: n += len(x)
    return n / (time.perf_counter() - t0)


def pure(dls, prec, n_batches):
    x, y = dls.train.one_batch()
    x, y = x.as_subclass(torch.Tensor).clone(), y.as_subclass(torch.Tensor).clone()  # plain tensors: the bare limit
    return step_loop(new_model().train(), ((x, y) for _ in range(n_batches + 1)), prec)


class PlainDataset(Dataset):
    "The reference's data path: decoded uint8 images -> albumentations -> tensor -> normalise."
    def __init__(self, images, labels):
        self.images, self.labels, self.aug = images, labels, era_augs()
        self.mean, self.std = (torch.tensor(s).view(3, 1, 1) for s in ERA.stats)
    def __len__(self): return len(self.images)
    def __getitem__(self, i):
        img = torch.from_numpy(self.aug(image=self.images[i])['image']).permute(2, 0, 1).float().div_(255)
        return (img - self.mean) / self.std, self.labels[i]


def plain(dls, prec, n_batches):
    ds = dls.train_ds
    images = [image_array(f) for f in ds.items]  # decoded up front, as cifar_dls does
    labels = [int(ds.vocab.o2i[f.parent.name]) for f in ds.items]
    loader = DataLoader(PlainDataset(images, labels), batch_size=dls.bs, shuffle=True, drop_last=True, num_workers=0)
    it = iter(loader)
    return step_loop(new_model().train(), (next(it) for _ in range(n_batches + 1)), prec)



def fastai_fit(dls, prec, n_batches):
    timer = TrainTimer()
    learn = cifar_learner(dls, new_model(), precision=prec, cbs=timer)
    with learn.no_logging(): learn.fit_one_cycle(1, 5e-4)
    return timer.rate


PHASES = ('data', 'forward', 'backward', 'step', 'rest')

class Phases(Callback):
    "Per training batch: seconds from the last batch's end to this one's start (data), to the loss, to the gradients, to the step, to the batch's end."
    order = 99  # its before_batch after the others': their work there counts as data
    def __init__(self, n): self.n, self.rows, self.t = n, [], None
    def _lap(self, k):
        now = time.perf_counter(); self.cur[k] = now - self.t0; self.t0 = now
    def before_batch(self):
        now = time.perf_counter(); self.cur = {'data': now - self.t if self.t else float('nan')}; self.t0 = now
    def after_loss(self): self._lap('forward')
    def after_backward(self): self._lap('backward')
    def after_step(self): self._lap('step')
    def after_batch(self):
        self._lap('rest'); self.t = self.t0
        if self.training: self.rows.append(self.cur)
        if self.training and len(self.rows) > self.n: raise CancelFitException


def plain_phases(dls, prec, n_batches):
    "(b)'s loop, timed by phase."
    ds = dls.train_ds
    images, labels = [image_array(f) for f in ds.items], [int(ds.vocab.o2i[f.parent.name]) for f in ds.items]
    it = iter(DataLoader(PlainDataset(images, labels), batch_size=dls.bs, shuffle=True, drop_last=True, num_workers=0))
    model = new_model().train()
    opt, loss_fn, rows, t = torch.optim.Adam(model.parameters(), lr=1e-4), torch.nn.CrossEntropyLoss(), [], time.perf_counter()
    for _ in range(n_batches + 1):
        x, y = next(it)
        cur, t0 = {'data': time.perf_counter() - t}, time.perf_counter()
        with precision_autocast(prec, 'cpu'): loss = loss_fn(model(x).float(), y)
        cur['forward'] = time.perf_counter() - t0; t0 = time.perf_counter()
        loss.backward(); cur['backward'] = time.perf_counter() - t0; t0 = time.perf_counter()
        opt.step(); cur['step'] = time.perf_counter() - t0; t0 = time.perf_counter()
        opt.zero_grad(); cur['rest'] = time.perf_counter() - t0; t = time.perf_counter()
        rows.append(cur)
    return rows[1:]


def fastai_phases(dls, prec, n_batches):
    "(c), timed by phase."
    ph = Phases(n_batches)
    learn = cifar_learner(dls, new_model(), precision=prec, cbs=ph)
    with learn.no_logging(): learn.fit_one_cycle(1, 5e-4)
    return ph.rows[1:]


def phases(dls, prec, args):
    ways = {'(b) plain PyTorch': plain_phases, '(c) cifar_fast': fastai_phases}
    rows = {w: [] for w in ways}
    for r in range(args.repeats):
        for w, fn in ways.items():
            rows[w] += fn(dls, prec, args.batches)
            print(f"repeat {r + 1} {w:<18} " + ' '.join(f"{k} {1000 * statistics.mean(x[k] for x in rows[w][-args.batches:]):7.1f}" for k in PHASES), flush=True)
    print(f"\nbatch {args.bs}, {prec}, ms per batch, medians over {args.repeats} x {args.batches} timed batches, {torch.get_num_threads()} threads")
    print("| | " + " | ".join(PHASES) + " | total |")
    print("|---" * (len(PHASES) + 2) + "|")
    for w, rs in rows.items():
        med = [1000 * statistics.median(x[k] for x in rs) for k in PHASES]
        print(f"| {w} | " + " | ".join(f"{m:.1f}" for m in med) + f" | {1000 * statistics.median(sum(x.values()) for x in rs):.1f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=None)
    p.add_argument('--bs', type=int, default=512, help='batch size (default: 512, the reference\'s)')
    p.add_argument('--batches', type=int, default=3, help='timed batches per measurement (after one warm-up)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--phases', action='store_true', help="time (b) and (c) by phase instead: data, forward, backward, step")
    args = p.parse_args()
    set_seed(0)
    n_per_class = (args.batches + 1) * args.bs // 10 + 1
    dls = cifar_dls(args.data, bs=args.bs, subset=n_per_class, seed=0, device='cpu')
    dls.valid = dls.valid.new(bs=args.bs)  # validation is not timed
    if args.phases: return phases(dls, resolve_precision('auto', 'cpu'), args)
    precs = ['fp32'] + ([resolve_precision('auto', 'cpu')] if resolve_precision('auto', 'cpu') != 'fp32' else [])
    ways = {'(a) pure step': pure, '(b) plain PyTorch': plain, '(c) cifar_fast': fastai_fit}
    rates = {(w, pr): [] for w in ways for pr in precs}
    for r in range(args.repeats):
        for pr in precs:
            for w, fn in ways.items():
                rates[(w, pr)].append(fn(dls, pr, args.batches))
                print(f"repeat {r + 1} {pr:>4} {w:<18} {rates[(w, pr)][-1]:7.1f} img/s", flush=True)
    print(f"\nbatch {args.bs}, {args.batches} timed batches after 1 warm-up, {args.repeats} repeats, medians, "
          f"{torch.get_num_threads()} threads")
    print("| precision | (a) pure step | (b) plain PyTorch | (c) cifar_fast | (c)/(a) | (c)/(b) |")
    print("|---|---|---|---|---|---|")
    for pr in precs:
        a, b, c = (statistics.median(rates[(w, pr)]) for w in ways)
        print(f"| {pr} | {a:.1f} | {b:.1f} | {c:.1f} | {c / a:.3f} | {c / b:.3f} |")


if __name__ == '__main__':
    main()
