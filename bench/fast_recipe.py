"""The fast recipe side by side with the airbench94 CPU port, in one run, on the full CIFAR-10 (JPEG).

For each seed, interleaved: (1) the `fast` recipe through cifar_fast's fastai Learner, timed from decoded images in
memory to the final test accuracy with TTA (learner creation, whitening, training and the TTA test pass); (2) the port
`../shared/peers/airbench94_cpu.py` (when present) in a subprocess, which reports its own `total_time_seconds` (its
training and final TTA evaluation, excluding data loading and its untimed per-epoch tests). Prints per-run rows, then
mean, min and max accuracy and time for each, and the ratio of the mean times.

The port autocasts to bf16 on every CPU. On CPUs without native bf16 (no AVX-512 BF16 / AMX) that is emulated and
about 10x slower than fp32 (BENCHMARKS.md), so by default (`--peer-precision auto`) the port runs with autocast turned
off there, in fp32, as the fast recipe's `precision='auto'` does; `--peer-precision as-is` runs it untouched.

On a GPU both pick it by themselves: the fast recipe through fastai's default device, and the peer when `--peer` names
upstream's own `airbench94.py` (which reads `cifar10/train.pt` from its working directory, made here from the same
archive, and runs in fp16). On CUDA each side first runs once untimed (cuDNN's autotuning, lazy initialisation): ours one
epoch, the peer its own `main('warmup')`.

`--throughput` instead measures the fast recipe's Learner against a bare forward+backward+step loop of the same net
on ready tensors (same batch size, precision and memory format): images/s over timed training batches, interleaved.

    python bench/fast_recipe.py --data ../shared/data/cifar10-jpg.tgz [--seeds 3] [--epochs N] [--subset N] [--peer PATH | --no-peer]
    python bench/fast_recipe.py --data ../shared/data/cifar10-jpg.tgz --recipe 'fast:epochs=9,prog_size=26,prog_epochs=4' --first-seed 5
    python bench/fast_recipe.py --data ../shared/data/cifar10-jpg.tgz --throughput [--batches 3] [--repeats 3]
"""
import argparse, os, re, statistics, subprocess, sys, tarfile, tempfile, time
from pathlib import Path

import torch
from cifar_fast.core import quiet_imports
with quiet_imports():
    from fastai.callback.core import Callback
    from fastai.learner import AvgSmoothLoss, Recorder
    from fastai.torch_core import set_seed
from timing import TrainTimer, sync  # bench/timing.py

from cifar_fast.augment import cifar_dls
from cifar_fast.core import cpu_has_bf16, precision_autocast, resolve_precision
from cifar_fast.recipes import get_recipe, parse_variant
from cifar_fast.runs import seed_summary
from cifar_fast.learner import cifar_learner
from cifar_fast.history import history
from cifar_fast.optim import nesterov_sgd, bn_bias_splitter
from cifar_fast.model import unwrap

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent/'shared'/'peers'/'airbench94_cpu.py'
TENSORS = ROOT.parent/'shared'/'peers'/'cifar_jpg_tensors.py'

# Runs the port as its own __main__ would, optionally with CPU autocast disabled and fewer epochs; no port code is copied.
PEER_DRIVER = """
import runpy, sys, torch
path, fp32, epochs, warmup = sys.argv[1], sys.argv[2] == 'fp32', sys.argv[3], sys.argv[4] == 'warmup'
if fp32:
    _autocast = torch.autocast
    torch.autocast = lambda device_type, *a, **k: _autocast(device_type, *a, **{**k, 'enabled': False})
ns = runpy.run_path(path, run_name='airbench_peer')
if epochs != 'all': ns['hyp']['opt']['train_epochs'] = float(epochs)
sys.argv = [path]
ns['print_columns'](ns['logging_columns_list'], is_head=True)
if warmup: ns['main']('warmup')
ns['main'](0)
"""


def run_ours(dls, recipe, seed):
    "Accuracy with TTA and seconds from decoded images to that accuracy, for one seed."
    set_seed(seed)
    sync(dls.device)
    t0 = time.perf_counter()
    learn = cifar_learner(dls, recipe=recipe)
    with learn.no_logging(): learn.fit_recipe()
    return history(learn)['valid_accuracy'][-1], time.perf_counter() - t0


def run_peer(peer, data_dir, fp32, epochs, warmup=False):
    "The peer's own tta_val_acc and total_time_seconds, and the whole process's wall time."
    env = {**os.environ, 'AIRBENCH_DATA': str(data_dir), 'AIRBENCH_RUNS': '1'}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, '-c', PEER_DRIVER, str(peer), 'fp32' if fp32 else 'as-is', str(epochs),
                        'warmup' if warmup else 'none'],
                       capture_output=True, text=True, env=env, cwd=data_dir.parent)  # upstream reads ./cifar10
    wall = time.perf_counter() - t0
    if r.returncode: raise RuntimeError(f"the port failed:\n{r.stderr[-2000:]}")
    last = [l for l in r.stdout.splitlines() if 'eval' in l][-1]
    acc, secs = (float(v) for v in re.findall(r'\d+\.\d+', last)[-2:])
    return acc, secs, wall


def summary(name, rows):
    "One table row: runs, mean accuracy with its 95% confidence interval over seeds (Student's t), min, max; mean, min and max seconds."
    acc, secs = seed_summary([100 * r[0] for r in rows]), seed_summary([r[1] for r in rows])
    ci = f" ± {acc['ci_half']:.2f}" if acc['ci_half'] is not None else ''
    print(f"| {name} | {acc['n']} | {acc['mean']:.2f}{ci} | {acc['min']:.2f} | {acc['max']:.2f} "
          f"| {secs['mean']:.1f} | {secs['min']:.1f} | {secs['max']:.1f} |")
    return secs['mean']



def throughput(args, recipe):
    "The fast recipe's Learner against a bare loop of the same net, optimiser, precision and batch size."
    n_per_class = (args.batches + 1) * recipe.bs // 10 + 1
    if n_per_class > 1000: raise SystemExit(f"--batches {args.batches} needs {n_per_class} images per class; the test split has 1000: at most 8")
    dls = cifar_dls(args.data, recipe=recipe, subset=n_per_class, seed=0)
    prec = resolve_precision(recipe.precision, dls.device)

    def bare():
        learn = cifar_learner(dls, recipe=recipe)  # the same net, whitened, in the same memory format
        net = unwrap(learn.model).train().to(memory_format=torch.channels_last)
        opt = nesterov_sgd(bn_bias_splitter(net), lr=0.1, mom=recipe.mom, wd=recipe.wd, lr_mults=(recipe.bias_lr_mult, 1.))
        x, y = dls.train.one_batch()
        x, y = x.as_subclass(torch.Tensor).contiguous(memory_format=torch.channels_last), y.as_subclass(torch.Tensor)
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        n, t0 = 0, None
        for i in range(args.batches + 1):
            if i == 1: sync(dls.device); t0 = time.perf_counter()
            with precision_autocast(prec, dls.device): out = net(x)
            loss_fn(out.float(), y).backward()
            opt.step(); opt.zero_grad()
            if i >= 1: n += len(x)
        sync(dls.device)
        return n / (time.perf_counter() - t0)

    def learner(*extra_cbs):
        timer = TrainTimer()
        learn = cifar_learner(dls, recipe=get_recipe(recipe, epochs=1, valid_every=0), cbs=[timer, *extra_cbs])
        learn.dls.valid = dls.valid.new(bs=recipe.bs)
        with learn.no_logging():
            learn.fit(1, 0.1, cbs=[_StopAfter(args.batches + 1)])
        sync(dls.device)
        return timer.n / (time.perf_counter() - timer.t0) if timer.t0 else float('nan')

    ways = {'(a) bare loop on ready tensors': bare, "(b) the fast recipe's Learner": learner,
            '(c) Learner, no per-batch sync': lambda: learner(_NoSyncMetrics())}
    rates = {w: [] for w in ways}
    for rep in range(args.repeats):
        for w, fn in ways.items():
            rates[w].append(fn())
            print(f"repeat {rep + 1} {w:<32} {rates[w][-1]:7.1f} img/s", flush=True)
    a, b, c = (statistics.median(v) for v in rates.values())
    print(f"\nbatch {recipe.bs}, {prec}, {args.batches} timed batches after 1 warm-up, {args.repeats} repeats, medians, "
          f"{torch.get_num_threads()} threads")
    print(f"| (a) bare loop | (b) Learner | (b)/(a) | (c) Learner, no per-batch sync | (c)/(a) |\n|---|---|---|---|---|\n"
          f"| {a:.1f} img/s | {b:.1f} img/s | {b / a:.3f} | {c:.1f} img/s | {c / a:.3f} |")


class _DeviceSmoothLoss(AvgSmoothLoss):
    "fastai's smoothed training loss, kept on the loss's device (fastai's copies it to the CPU, a sync, every batch)."
    def accumulate(self, learn):
        self.count += 1
        self.val = torch.lerp(learn.loss.mean().detach().float(), self.val.to(learn.loss.device), self.beta)


class _NoSyncMetrics(Callback):
    "Experiment (c): the Recorder's per-batch work without a GPU->CPU copy: smoothed loss on the device, no train metrics."
    order = Recorder.order - 1  # before the Recorder resets its smoothed loss
    def before_fit(self):
        self.recorder.smooth_loss, self.recorder.train_metrics = _DeviceSmoothLoss(self.recorder.smooth_loss.beta), False


class _StopAfter(Callback):
    "Stop the fit after `n` training batches (the timed ones), without testing."
    order = 100
    def __init__(self, n): self.n = n
    def after_batch(self):
        if self.training and self.iter + 1 >= self.n:
            from fastai.callback.core import CancelFitException
            raise CancelFitException


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=None)
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--epochs', default='all', help="'all' (the recipes' own), or fewer, for a quick check of this script")
    p.add_argument('--subset', type=int, default=None, help='images per class and split for ours (the port always uses all)')
    p.add_argument('--peer', default=str(PEER), help="the peer's script: the CPU port (default) or upstream's airbench94.py on a GPU")
    p.add_argument('--peer-precision', choices=['auto', 'as-is', 'fp32'], default='auto')
    p.add_argument('--throughput', action='store_true')
    p.add_argument('--no-cuda-graphs', action='store_true', help='train without CUDA graphs (on a GPU)')
    p.add_argument('--recipe', default='fast', help="the recipe to time: fast (default), muon, or a variant ('fast:epochs=9,prog_size=26,prog_epochs=4')")
    p.add_argument('--no-peer', action='store_true', help='run the recipe alone')
    p.add_argument('--first-seed', type=int, default=0, help='seeds first-seed .. first-seed + seeds - 1 (ours; the port draws its own)')
    p.add_argument('--batches', type=int, default=3)
    p.add_argument('--repeats', type=int, default=3)
    args = p.parse_args()
    recipe = get_recipe(parse_variant(args.recipe), cuda_graphs=not args.no_cuda_graphs, **({} if args.epochs == 'all' else {'epochs': int(args.epochs)}))
    print(f"{recipe}\n{os.cpu_count()} CPUs, {torch.get_num_threads()} threads, native bf16: {cpu_has_bf16()}", flush=True)
    if args.throughput: return throughput(args, recipe)

    t0 = time.perf_counter()
    dls = cifar_dls(args.data, recipe=recipe, subset=args.subset, seed=0)
    dls.train.stacked(); dls.valid.stacked()  # decoded and stacked once, before any timing: "images in memory"
    print(f"decoded {len(dls.train_ds)} + {len(dls.valid_ds)} images in {time.perf_counter() - t0:.0f}s", flush=True)
    cuda = torch.device(dls.device or 'cpu').type == 'cuda'
    print(f"device: {torch.cuda.get_device_name() if cuda else 'CPU'}", flush=True)
    peer_path = Path(args.peer).resolve()  # the peer runs in its data's folder
    peer = not args.no_peer and peer_path.exists() and args.data is not None and tarfile.is_tarfile(args.data)
    if peer:
        fp32 = args.peer_precision == 'fp32' or (args.peer_precision == 'auto' and not cuda and not cpu_has_bf16())
        tensors = Path(tempfile.mkdtemp())/'cifar10'  # the peer reads its own tensor files, made from the same archive
        subprocess.run([sys.executable, str(TENSORS), str(args.data), str(tensors)], check=True, capture_output=True)
        print(f"peer: {peer_path} ({'fp32: CPU autocast off' if fp32 else 'as shipped'})", flush=True)
    else: print(f"peer: {peer_path} not found, --data is not the archive, or --no-peer: running {args.recipe} alone", flush=True)
    if cuda: run_ours(dls, get_recipe(recipe, epochs=1), 0)  # warm-up, untimed

    ours, theirs = [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        ours.append(run_ours(dls, recipe, seed))
        print(f"seed {seed}  {args.recipe}  tta_acc {ours[-1][0]:.4f}  {ours[-1][1]:.1f}s", flush=True)
        if peer:
            theirs.append(run_peer(peer_path, tensors, fp32, args.epochs, warmup=cuda))
            print(f"seed {seed}  {peer_path.stem}  tta_acc {theirs[-1][0]:.4f}  {theirs[-1][1]:.1f}s (process {theirs[-1][2]:.0f}s)", flush=True)
    print("\n| program | runs | mean acc % (95% CI) | min | max | mean s | min s | max s |\n|---|---|---|---|---|---|---|---|")
    a = summary(f'{args.recipe} (cifar_fast Learner)', ours)
    if peer:
        b = summary(f'{peer_path.name} (peer)', theirs)
        print(f"\ntime ratio, {args.recipe} / peer: {a / b:.3f}")


if __name__ == '__main__':
    main()
