"""What ASHA saves in a sweep, and whether it finds the same best variant; then that variant on the full data.

1. `cifar_fast.sweep.sweep` with ASHA (Optuna's TPE, `--trials` trials on `--subset` images per class, scored on the
   held-out 10% of the training images; the test set is not used).
2. The same trials run to the end: a sweep with `asha=False` and `points=` the first sweep's configs (same seed, so each
   trial starts from the same weights and draws; its accuracies up to where ASHA stopped it are the same).
3. The compute each used (trial-epochs and trial-seconds), the best variant of each, and where the ASHA sweep's best
   ranks among the trials run to the end.
4. Unless `--seeds 0`: the best variant (the searched fields only, at the recipe's own batch size and epochs) on the
   full data over `--seeds` seeds with `train_runs`, beside the recipe's own runs on the same seeds: read from a
   multi-seed ledger (`--beside DIR/runs.json`, e.g. the `compare fast muon` ledger) or else trained here too.

Each step writes its result to `--out`/steps.json as it ends; a second call skips finished steps (a killed sweep step
resumes with Ray's `Tuner.restore`, a killed multi-seed step with its checkpoints).

    python bench/sweep_asha.py --data ../shared/data/cifar10-jpg.tgz --out /work/bench-runs/sweep-asha \\
        --beside /work/bench-runs/fast-vs-muon/runs.json [--trials 24] [--subset 500] [--seeds 3] [SPACE ...]
"""
import argparse, json, time
from pathlib import Path

SPACE = ['lr_max=loguniform(0.5,3)', 'label_smoothing=uniform(0,0.3)', 'wd=loguniform(0.0004,0.004)']


def _sweep_step(name:str, out:Path, args, **kw) -> dict:
    from cifar_fast.sweep import sweep
    folder = out/name
    resume = (folder/'sweep').is_dir()
    t = time.perf_counter()
    res = sweep(args.recipe, trials=args.trials, space=args.space, data=args.data, subset=args.subset, out=folder, final=False,
                resume=resume, seed=args.seed, report=out/f'{name}-report', **kw)
    return json.loads(json.dumps({'wall_seconds': time.perf_counter() - t, 'resumed': resume, 'best_config': res.best_config,
                                  'trials': res.trials}, default=str))  # as steps.json holds it: epochs as strings


def _beside(path:Path, recipe:str, seeds:list) -> list:
    "The recipe's rows for `seeds` from a multi-seed ledger (train_runs' or compare_runs')."
    rows = json.loads(path.read_text())['runs']
    found = {r['seed']: r for r in rows if r['recipe'] == recipe and r['seed'] in seeds}
    missing = sorted(set(seeds) - set(found))
    if missing: raise SystemExit(f"{path} has no run of {recipe} for seeds {missing}")
    return [found[s] for s in seeds]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('space', nargs='*', default=SPACE, help=f"the search space (default: {' '.join(SPACE)})")
    p.add_argument('--recipe', default='fast')
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--trials', type=int, default=24)
    p.add_argument('--subset', type=int, default=500, help='images per class for the trials (default: 500)')
    p.add_argument('--seed', type=int, default=0, help="the sweeps' seed (default: 0)")
    p.add_argument('--seeds', type=int, default=3, help='seeds of the best variant on the full data; 0 skips that step (default: 3)')
    p.add_argument('--beside', type=Path, default=None, help="a multi-seed ledger (runs.json) holding the recipe's own full runs")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    steps_file = args.out/'steps.json'
    steps = json.loads(steps_file.read_text()) if steps_file.exists() else {}
    save = lambda: steps_file.write_text(json.dumps(steps, indent=1, default=str))

    if 'asha' not in steps: steps['asha'] = _sweep_step('asha', args.out, args); save()
    if 'full' not in steps:
        pts = [{k: r[k] for k in steps['asha']['best_config']} for r in steps['asha']['trials']]
        steps['full'] = _sweep_step('full', args.out, args, asha=False, points=pts); save()
    a, f = steps['asha'], steps['full']
    key = lambda r: tuple(r[k] for k in a['best_config'])
    by_key = {key(r): r for r in f['trials']}
    same = [all(abs(by_key[key(r)]['per_epoch'][e] - acc) < 1e-6 for e, acc in r['per_epoch'].items()) for r in a['trials']]
    ranked = sorted(f['trials'], key=lambda r: -(r['accuracy'] or 0))
    rank = 1 + [key(r) for r in ranked].index(tuple(a['best_config'].values()))
    cost = lambda s, what: sum(r[what] or 0 for r in s['trials'])
    steps['summary'] = {
        'trial_epochs': {'asha': cost(a, 'epochs'), 'full': cost(f, 'epochs')},
        'trial_seconds': {'asha': cost(a, 'seconds'), 'full': cost(f, 'seconds')},
        'wall_seconds': {'asha': a['wall_seconds'], 'full': f['wall_seconds']},
        'stopped_early': sum(r['stopped_early'] for r in a['trials']),
        'same_best': a['best_config'] == f['best_config'],
        'asha_best_rank_among_full': rank, 'asha_best_full_accuracy': by_key[tuple(a['best_config'].values())]['accuracy'],
        'full_best_accuracy': ranked[0]['accuracy'], 'trials_matching_epoch_by_epoch': sum(same)}
    save()
    print(json.dumps(steps['summary'], indent=1))

    if args.seeds and 'final' not in steps:
        from cifar_fast.runs import train_runs, seed_summary, welch, summary_line
        fmt = lambda v: repr(v) if isinstance(v, float) else str(v)
        variant = args.recipe + ':' + ','.join(f"{k}={fmt(v)}" for k, v in a['best_config'].items())
        seeds = list(range(args.seeds))
        best = train_runs(variant, seeds=seeds, data=args.data, out=args.out/'best-seeds', resume=True, export='none')
        base = _beside(args.beside, args.recipe, seeds) if args.beside else \
            train_runs(args.recipe, seeds=seeds, data=args.data, out=args.out/'recipe-seeds', resume=True, export='none').runs
        w = welch([r['accuracy'] for r in base], [r['accuracy'] for r in best.runs])
        steps['final'] = {'variant': variant, 'best': best.runs, 'recipe': base, 'test': w,
                          'best_summary': best.summary, 'recipe_summary': seed_summary([r['accuracy'] for r in base]),
                          'best_line': summary_line(variant, best.summary, best.runs),
                          'recipe_line': summary_line(args.recipe, seed_summary([r['accuracy'] for r in base]), base)}
        save()
        print(steps['final']['recipe_line']); print(steps['final']['best_line'])
        print(f"difference {100 * w['diff']:+.2f} +/- {100 * w['ci_half']:.2f} points, p = {w['p']:.3f}")


if __name__ == '__main__':
    main()
