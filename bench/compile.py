"""`torch.compile` against eager for both recipes' nets: the compile time against the per-step gain, end to end.

For each recipe, on the device fastai would pick (a GPU when there is one): the recipe's net, batch size, precision and
memory format, one forward+backward+SGD step on a ready batch of random images. Eager and compiled (inductor) are
timed the same way: the first step (for the compiled net: compiling), then `--steps` steps. The compile is worth it
end to end only if the run is longer than the break-even point printed: the extra first-step time divided by the
time saved per epoch.

    python bench/compile.py [--recipes era fast] [--steps 20] [--modes eager compiled] [--compile-mode reduce-overhead]
"""
import argparse, time

import torch
from cifar_fast.core import precision_autocast, quiet_imports, resolve_precision
from cifar_fast.recipes import get_recipe
with quiet_imports():
    from fastai.torch_core import default_device
from cifar_fast.archs import cifar_model
from cifar_fast.model import unwrap
from timing import sync  # bench/timing.py


def measure(recipe, mode, steps, device, compile_mode='default'):
    "(seconds of the first step, images/s over the next `steps`) for the recipe's net, eager or compiled."
    torch.manual_seed(0)
    net = unwrap(cifar_model(recipe)).to(device).train().to(memory_format=torch.channels_last)
    step_net = torch.compile(net, mode=compile_mode) if mode == 'compiled' else net
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    prec = resolve_precision(recipe.precision, device)
    x = torch.randn(recipe.bs, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (recipe.bs,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    def step():
        with precision_autocast(prec, device): out = step_net(x)
        loss_fn(out.float(), y).backward()
        opt.step(); opt.zero_grad(set_to_none=True)

    sync(device); t0 = time.perf_counter(); step(); sync(device)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps): step()
    sync(device)
    return first, steps * recipe.bs / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--recipes', nargs='*', default=['era', 'fast'])
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--modes', nargs='*', default=['eager', 'compiled'])
    p.add_argument('--compile-mode', default='default', help="torch.compile's mode: default, reduce-overhead (CUDA graphs), max-autotune")
    args = p.parse_args()
    device = default_device()
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, compile mode {args.compile_mode}", flush=True)
    print("| recipe | mode | first step s | img/s after it | break-even |\n|---|---|---|---|---|", flush=True)
    for name in args.recipes:
        r = get_recipe(name)
        res = {m: measure(r, m, args.steps, device, args.compile_mode) for m in args.modes}
        for m, (first, rate) in res.items():
            even = ''
            if m == 'compiled' and 'eager' in res:
                (f0, r0), per_epoch = res['eager'], 50_000
                saved = per_epoch / r0 - per_epoch / rate  # seconds saved per epoch of 50,000 images
                even = f"{(first - f0) / saved:.1f} epochs" if saved > 0 else 'never (no faster per step)'
            print(f"| {name} (bs {r.bs}, {resolve_precision(r.precision, device)}) | {m} | {first:.1f} | {rate:.0f} | {even} |", flush=True)


if __name__ == '__main__':
    main()
