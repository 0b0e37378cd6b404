"""Full runs of recipes and variants of them, one after the other in fresh processes, on the same data and seed.

Each run is `cifar_fast.run.train_run`, what `cifar-fast train` does, timed as it times itself: `train_seconds` is the fit
and the final test with TTA, not the start-up, export or report. A run is a recipe's name, optionally with changes to its
fields (Python literals), for the per-change effects in BENCHMARKS.md:

    python bench/recipe_runs.py --data ../shared/data/cifar10-jpg.tgz --seed 0 fast muon 'muon:brightness=0,contrast=0'

Each run's log lines show as they come; each run's result is appended to `--log` as one JSON line as soon as it ends (a
long series can be read while it runs); at the end, a table: test accuracy with TTA, training seconds, steps trained,
and the time against the first run's.
"""
import argparse, ast, json, subprocess, sys, tempfile, time
from pathlib import Path

def parse_spec(spec:str) -> tuple:
    "'muon:bs=1536,epochs=7.59' -> ('muon', {'bs': 1536, 'epochs': 7.59}), checked before hours of work."
    name, _, rest = spec.partition(':')
    return name, {k: ast.literal_eval(v) for k, v in (kv.split('=', 1) for kv in rest.split(',') if kv)}

def one_run(spec:str, data:str, seed:int, out:Path):
    "Train one run in this process, exporting into the folder `out`, and write its result there as result.json."
    from cifar_fast.run import train_run
    name, changes = parse_spec(spec)
    res = train_run(name, data=data, out=out/'model.pkl', seed=seed, **changes)
    (out/'result.json').write_text(json.dumps({'spec': spec, 'accuracy': res.accuracy, 'train_seconds': res.train_seconds,
        'epochs': res.recipe.epochs, 'bs': res.recipe.bs, 'steps': res.learn.train_iter, 'ready_seconds': res.ready_seconds}))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('runs', nargs='+', help="recipe[:field=value,...]")
    p.add_argument('--data', required=True, help='CIFAR-10 folder or archive')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--log', default='recipe_runs.jsonl', help='JSON lines, one per finished run (appended)')
    p.add_argument('--out', default=None, help=argparse.SUPPRESS)  # with one run: train it here, writing into the folder OUT
    a = p.parse_args()
    if a.out: return one_run(a.runs[0], a.data, a.seed, Path(a.out))
    from cifar_fast.recipes import get_recipe
    for spec in a.runs:
        name, changes = parse_spec(spec)
        get_recipe(name, **changes)  # a typo fails now, not after the first run
    rows = []
    for spec in a.runs:  # each in its own process, its log lines shown as they come
        with tempfile.TemporaryDirectory() as d:
            proc = subprocess.run([sys.executable, __file__, spec, '--data', a.data, '--seed', str(a.seed), '--out', d])
            if proc.returncode: sys.exit(f"{spec} failed (exit {proc.returncode})")
            r = json.loads((Path(d)/'result.json').read_text())
        r.update(date=time.strftime('%Y-%m-%d %H:%M'), seed=a.seed)
        with open(a.log, 'a') as f: f.write(json.dumps(r) + '\n')
        rows.append(r)
    print('| run | epochs | batch | steps | test acc (TTA) | training s | vs first |\n|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| `{r['spec']}` | {r['epochs']} | {r['bs']} | {r['steps']} | {100 * r['accuracy']:.2f}% | {r['train_seconds']:.0f} | "
              f"{r['train_seconds'] / rows[0]['train_seconds']:.2f}x |", flush=True)

if __name__ == '__main__': main()
