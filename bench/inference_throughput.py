"""Batch inference throughput, side by side in one run, on the same model, images and batch size:
(a) a plain `model(x)` call on ready, normalised tensors (the limit);
(b) the safe path, `load_classifier(weights).predict_batch(items)`, from image files and from uint8 arrays;
(c) the exported learner, `load_exported(pkl).get_preds(dl=learn.dls.test_dl(files))`, fastai's own pipeline;
(d) ONNX on onnxruntime (`export_onnx`): the session on the same ready tensors, and `load_classifier(onnx).predict_batch(files)`.
Configurations interleaved over several repeats; medians of images/s; ratios against (a).

    python bench/inference_throughput.py --data ../shared/data/cifar10-jpg.tgz [--n 2048] [--bs 256] [--repeats 3]
"""
import argparse, statistics, tempfile, time
from pathlib import Path

import numpy as np
import torch

from cifar_fast.augment import cifar_dls
from cifar_fast.data import cifar_files
from cifar_fast.images import image_array
from cifar_fast.inference import load_classifier
from cifar_fast.learner import export_weights, load_exported
from cifar_fast.onnx import export_onnx
from cifar_fast.learner import cifar_learner
from cifar_fast.model import CustomResNet


def timed(fn, n):
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=None)
    ap.add_argument('--n', type=int, default=2048, help='test images per measurement')
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--repeats', type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    files = cifar_files(args.data, split='test')[:args.n]
    tmp = Path(tempfile.mkdtemp())
    dls = cifar_dls(args.data, bs=args.bs, subset=max(1, -(-args.bs // 10)), seed=0, device='cpu')
    learn = cifar_learner(dls, CustomResNet(), precision='fp32')  # untrained weights: speed does not depend on them
    learn.export(tmp/'model.pkl')
    export_weights(learn, tmp/'model.safetensors')
    export_onnx(learn, tmp/'model.onnx')

    loaded = load_exported(tmp/'model.pkl')  # fp32, contiguous, on the CPU: what load_learner gives
    safe = load_classifier(tmp/'model.safetensors', bs=args.bs)
    arrays = np.stack([image_array(f) for f in files])
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in safe.stats)
    ready = [(torch.from_numpy(arrays[i:i + args.bs]).permute(0, 3, 1, 2).float() / 255 - mean) / std
             for i in range(0, len(arrays), args.bs)]
    plain_model = safe.model
    onnx_clf = load_classifier(tmp/'model.onnx', bs=args.bs)
    session = onnx_clf.session

    ready_np = [np.ascontiguousarray(x.numpy()) for x in ready]  # the NCHW layout the graph takes, copied once beforehand

    def onnx_plain():
        for x in ready_np: session.run(None, {'image': x})

    def plain():
        with torch.inference_mode():
            for x in ready: plain_model(x)

    def learner_get_preds():
        loaded.get_preds(dl=loaded.dls.test_dl(files, bs=args.bs))  # AutoProgress: no bars when not in a terminal

    configs = {'(a) model(x) on ready tensors': plain,
               '(b) predict_batch, image files': lambda: safe.predict_batch(files),
               '(b) predict_batch, uint8 arrays': lambda: safe.predict_batch(arrays),
               "(c) exported learner's get_preds": learner_get_preds,
               '(d) onnxruntime session on ready tensors': onnx_plain,
               '(d) ONNX predict_batch, image files': lambda: onnx_clf.predict_batch(files)}
    for fn in configs.values(): fn()  # warm-up
    rates = {k: [] for k in configs}
    for _ in range(args.repeats):
        for k, fn in configs.items(): rates[k].append(timed(fn, len(files)))
    med = {k: statistics.median(v) for k, v in rates.items()}
    base = med['(a) model(x) on ready tensors']
    import onnxruntime
    print(f"{len(files)} test images, batch {args.bs}, fp32, {torch.get_num_threads()} threads, onnxruntime {onnxruntime.__version__}, medians of {args.repeats}")
    print("| configuration | images/s | ratio to (a) |\n|---|---|---|")
    for k, v in med.items(): print(f"| {k} | {v:.1f} | {v / base:.3f} |")


if __name__ == '__main__':
    main()
