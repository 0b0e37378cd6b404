"""Where a training step of the fast recipe spends its time, beside the airbench94 CPU port's step (issue 30).

Each side trains `--steps` batches of its full-data training loop after `--warmup` untimed ones, in its own process,
one after the other: (1) the fast recipe through cifar_fast's Learner (`fit_recipe`, stopped after the steps; no
test pass), (2) the port `../shared/peers/airbench94_cpu.py`, its own `main` run with its per-epoch and final
evaluations replaced by a no-op (no port code is copied). Both are timed per step (wall clock) and profiled with
PyTorch's profiler (`--profile`): per-operator self CPU time, summed over the timed steps, top `--top`. With
`--onednn` oneDNN's verbose log is summarised instead: which primitives and implementations ran, and their time.

    python bench/profile_step.py --data ../shared/data/cifar10-jpg.tgz [--steps 8] [--profile | --onednn]
"""
import argparse, collections, json, os, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent/'shared'/'peers'/'airbench94_cpu.py'
TENSORS = ROOT.parent/'shared'/'peers'/'cifar_jpg_tensors.py'

# The port as its own __main__ runs it, with its evaluations a no-op, its step counted and timed through the scheduler
# (stepped once per training step), and the profiler around the timed steps. No port code is copied.
PEER_DRIVER = r"""
import json, runpy, sys, time, torch
path, warmup, steps, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ns = runpy.run_path(path, run_name='airbench_peer')
ns['hyp']['opt']['train_epochs'] = (warmup + steps + 1) * ns['hyp']['opt']['batch_size'] / 50000
ns['evaluate'] = lambda *a, **k: 0.0
ns['print_columns'] = ns['print_training_details'] = lambda *a, **k: None
times, prof = [], None
LambdaLR = torch.optim.lr_scheduler.LambdaLR
class Timed(LambdaLR):
    def step(self, *a, **k):
        global prof
        times.append(time.perf_counter())
        n = len(times)
        if n == warmup and mode == 'profile':
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]); prof.__enter__()
        if n == warmup + steps and prof is not None: prof.__exit__(None, None, None)
        return super().step(*a, **k)
torch.optim.lr_scheduler.LambdaLR = Timed
ns['main'](0)
out = {'step_seconds': [b - a for a, b in zip(times[warmup - 1:], times[warmup:warmup + steps])]}
if prof is not None:
    out['ops'] = [(e.key, e.self_cpu_time_total / 1e6, e.count) for e in prof.key_averages()]
print('RESULT ' + json.dumps(out))
"""

OURS_DRIVER = r"""
import json, sys, time, torch
sys.path.insert(0, sys.argv[5])
from cifar_fast.core import quiet_imports
with quiet_imports():
    from fastai.callback.core import Callback, CancelFitException
    from fastai.torch_core import set_seed
from cifar_fast.augment import cifar_dls
from cifar_fast.learner import cifar_learner
from cifar_fast.recipes import get_recipe
data, warmup, steps, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
r = get_recipe('fast', valid_every=0)
dls = cifar_dls(data, recipe=r, seed=0)
dls.train.stacked(); dls.valid.stacked()
times, prof = [], None
class Timed(Callback):
    order = 100
    def after_batch(self):
        global prof
        if not self.training: return
        times.append(time.perf_counter())
        n = len(times)
        if n == warmup and mode == 'profile':
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]); prof.__enter__()
        if n == warmup + steps:
            if prof is not None: prof.__exit__(None, None, None)
            raise CancelFitException
set_seed(0)
learn = cifar_learner(dls, recipe=r, cbs=[Timed()])
with learn.no_logging(): learn.fit_recipe()
out = {'step_seconds': [b - a for a, b in zip(times[warmup - 1:], times[warmup:warmup + steps])]}
if prof is not None:
    out['ops'] = [(e.key, e.self_cpu_time_total / 1e6, e.count) for e in prof.key_averages()]
print('RESULT ' + json.dumps(out))
"""


def run(cmd, env=None, cwd=None) -> tuple:
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd)
    if r.returncode: raise SystemExit(f"{cmd[2][:40]!r}... failed:\n{r.stderr[-3000:]}")
    res = next(json.loads(l[7:]) for l in r.stdout.splitlines() if l.startswith('RESULT '))
    return res, r.stdout + r.stderr


def onednn_summary(log:str) -> list:
    "(primitive, implementation, calls, ms) from oneDNN's verbose lines, most time first."
    agg = collections.defaultdict(lambda: [0, 0.0])
    for line in log.splitlines():
        if not line.startswith('onednn_verbose') or ',exec,' not in line: continue
        f = line.split(',')
        i = f.index('exec')
        prim, impl, ms = f[i + 2], f[i + 3], float(f[-1])
        agg[(prim, impl)][0] += 1; agg[(prim, impl)][1] += ms
    return sorted(((p, i, n, ms) for (p, i), (n, ms) in agg.items()), key=lambda r: -r[3])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', required=True, help='the CIFAR-10 (JPEG) archive')
    p.add_argument('--steps', type=int, default=8)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--profile', action='store_true', help="PyTorch's profiler: per-operator self CPU time")
    p.add_argument('--onednn', action='store_true', help="oneDNN's verbose log: primitives and implementations")
    p.add_argument('--top', type=int, default=25)
    p.add_argument('--rounds', type=int, default=1, help='alternate the two sides this many times')
    args = p.parse_args()
    mode = 'profile' if args.profile else 'time'
    env = {'ONEDNN_VERBOSE': '1'} if args.onednn else {}
    tensors = Path(tempfile.mkdtemp())/'cifar10'
    subprocess.run([sys.executable, str(TENSORS), str(args.data), str(tensors)], check=True, capture_output=True)
    sides = {'fast recipe (Learner)': [sys.executable, '-c', OURS_DRIVER, str(Path(args.data).resolve()), str(args.warmup), str(args.steps), mode, str(ROOT)],
             'airbench94 port': [sys.executable, '-c', PEER_DRIVER, str(PEER), str(args.warmup), str(args.steps), mode]}
    results = collections.defaultdict(list)
    for rnd in range(args.rounds):
        for name, cmd in sides.items():
            res, log = run(cmd, env={**env, 'AIRBENCH_DATA': str(tensors), 'AIRBENCH_RUNS': '1'}, cwd=tensors.parent)
            res['log'] = log
            results[name].append(res)
            s = res['step_seconds']
            print(f"round {rnd + 1} {name:<24} {1e3 * sorted(s)[len(s) // 2]:7.1f} ms/step (median of {len(s)}), "
                  f"{1024 * len(s) / sum(s):7.1f} img/s", flush=True)
    for name, rs in results.items():
        last = rs[-1]
        if 'ops' in last:
            total = sum(t for _, t, _ in last['ops'])
            print(f"\n{name}: self CPU time over {args.steps} steps, {total:.2f} s in all")
            for key, t, n in sorted(last['ops'], key=lambda o: -o[1])[:args.top]: print(f"  {t:7.3f} s {100 * t / total:5.1f}%  {n:6d}x  {key}")
        if args.onednn:
            print(f"\n{name}: oneDNN primitives (all steps, warm-up included)")
            for prim, impl, n, ms in onednn_summary(last['log'])[:args.top]: print(f"  {ms / 1e3:7.3f} s  {n:6d}x  {prim:<20} {impl}")


if __name__ == '__main__':
    main()
