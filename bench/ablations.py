"""Per-trick ablations of the fast recipe: each trick turned off in turn, the rest kept, same seeds, interleaved.

airbench's habit is to write beside each trick its measured effect. The full recipe needs about 1.7 hours a run on a
2-core CPU without AVX-512, so by default (`--net proxy`) this bench measures a scaled-down proxy: the whole training
set and the recipe's schedule, batch size and epochs, but a narrow net (`--widths 16,32,32`, about 1/40 of the compute)
in fp32. Effects on the narrow net are indications for the full one, not measurements of it. `--net full` runs the
recipe's own net in its own precision (on a GPU, which fastai picks by itself, a run takes seconds). Test accuracy is
on the full test set; the TTA rows reuse the baseline's trained model, tested with fewer views. The images are decoded
and stacked once; each run gets fresh training and test loaders over them.

`--variants` measures other settings the same way instead of the ablations: each variant is `field=value[;field=value]`
with the `Recipe`'s field names and Python literals, e.g. `epochs=12` or `"p_cutout=0.5;hole=12"`.

    python bench/ablations.py --data ../shared/data/cifar10-jpg.tgz [--net proxy|full] [--seeds 2] [--first-seed 0] [--widths 16,32,32] [--epochs N] [--only 0 1 ...]
    python bench/ablations.py --data ../shared/data/cifar10-jpg.tgz --net full --variants epochs=12 "lr_max=1.2" ...
"""
import argparse, ast, copy, statistics, time

import torch
from cifar_fast.core import quiet_imports
with quiet_imports():
    from fastai.torch_core import set_seed

from cifar_fast.augment import cifar_dls
from cifar_fast.recipes import get_recipe
from cifar_fast.learner import cifar_learner
from cifar_fast.history import history
from cifar_fast.model import set_tta

# (name, the recipe fields that turn the trick off)
ABLATIONS = [('fast (all tricks)', {}),
             ('no label smoothing (0.2 -> 0)', {'label_smoothing': 0.0}),
             ('no lookahead/EMA (every 5 steps -> never)', {'lookahead_every': 0}),
             ('no BatchNorm-bias lr multiplier (64 -> 1)', {'bias_lr_mult': 1.0}),
             ('whitening bias frozen from the start (3 epochs -> 0)', {'whiten_bias_epochs': 0}),
             ('no flips (p 0.5 -> 0)', {'p_flip': 0.0}),
             ('no translation (pad 2 -> 0)', {'pad': 0})]


def parse_variant(text:str) -> dict:
    "'epochs=12;lr_max=1.2' as recipe changes {'epochs': 12, 'lr_max': 1.2}; a value that is no Python literal stays a string."
    changes = {}
    for part in text.split(';'):
        key, sep, value = part.partition('=')
        if not sep: raise SystemExit(f"variant {text!r}: expected field=value[;field=value]")
        try: changes[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError): changes[key.strip()] = value.strip()
    return changes


def fresh_loaders(dls, r):
    "New training and test loaders over `dls`'s stacked images, augmenting as recipe `r` says (seeded by the caller)."
    res = copy.copy(dls)
    res.loaders = [dls.train.new(pad=r.pad, p_flip=r.p_flip, p_cutout=r.p_cutout, hole=r.hole), dls.valid.new()]
    for new, old in zip(res.loaders, dls.loaders): new._stack = old.stacked()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=None)
    ap.add_argument('--seeds', type=int, default=2)
    ap.add_argument('--first-seed', type=int, default=0, help='seeds first-seed, first-seed + 1, ...')
    ap.add_argument('--net', choices=['proxy', 'full'], default='proxy')
    ap.add_argument('--widths', default='16,32,32', help='the proxy\'s widths')
    ap.add_argument('--epochs', type=int, default=None, help="default: the recipe's")
    ap.add_argument('--only', nargs='*', type=int, default=None, help='indices of ABLATIONS to run (default: all)')
    ap.add_argument('--variants', nargs='*', default=None, help='field=value[;field=value] settings to measure instead of the ablations')
    args = ap.parse_args()
    net = {'widths': tuple(int(w) for w in args.widths.split(',')), 'precision': 'fp32'} if args.net == 'proxy' else {}
    base = get_recipe('fast', **net, **({'epochs': args.epochs} if args.epochs else {}))
    chosen = [ABLATIONS[i] for i in (args.only if args.only is not None else range(len(ABLATIONS)))]
    if args.variants is not None: chosen = [ABLATIONS[0]] + [(v, parse_variant(v)) for v in args.variants]
    results = {name: [] for name, _ in chosen} | {'TTA: mirror only (level 2 -> 1)': [], 'no TTA (level 2 -> 0)': []}
    print(base, f"; {torch.get_num_threads()} threads", flush=True)
    images = cifar_dls(args.data, recipe=base, seed=0)
    images.train.stacked(); images.valid.stacked()
    print(f"device: {torch.cuda.get_device_name() if torch.device(images.device or 'cpu').type == 'cuda' else 'CPU'}", flush=True)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name, changes in chosen:  # interleaved: every configuration once per seed
            r = get_recipe(base, **changes)
            set_seed(seed)
            dls = fresh_loaders(images, r)
            t0 = time.perf_counter()
            learn = cifar_learner(dls, recipe=r)
            with learn.no_logging(), learn.no_bar(): learn.fit_recipe()
            acc, secs = history(learn)['valid_accuracy'][-1], time.perf_counter() - t0
            results[name].append(acc)
            print(f"seed {seed} | {name} | {acc:.4f} | {secs:.0f}s", flush=True)
            if not changes:  # the baseline's model, tested with fewer TTA views
                for level, key in ((1, 'TTA: mirror only (level 2 -> 1)'), (0, 'no TTA (level 2 -> 0)')):
                    learn.model = set_tta(learn.model, level)
                    with learn.no_bar(): results[key].append(float(learn.validate()[1]))
    ref = statistics.mean(results[chosen[0][0]]) if chosen[0][1] == {} else None
    head, sign = ('effect of the trick (baseline - this)', 1) if args.variants is None else ('difference (this - baseline)', -1)
    print(f"\n| configuration | seeds | mean test acc | min | max | {head} |\n|---|---|---|---|---|---|")
    for name, accs in results.items():
        if not accs: continue
        m = statistics.mean(accs)
        effect = f"{100 * sign * (ref - m):+.2f}" if ref is not None and name != chosen[0][0] else ''
        print(f"| {name} | {len(accs)} | {100 * m:.2f} | {100 * min(accs):.2f} | {100 * max(accs):.2f} | {effect} |")


if __name__ == '__main__':
    main()
