"""A CPU stand-in for what `cifar_fast.loop.CudaGraphs` calls of `torch.cuda` (injected in the tests only, through
`CudaGraphs(api=STANDIN)` or in place of `cifar_fast.loop.CUDA_API`).

Capturing records every ATen operation of the step (forward, backward, optimiser: below autograd and autocast, so the
casts autocast inserts are recorded as explicit operations) with its arguments: tensors by identity, numbers by value,
as a CUDA graph records kernels with their addresses and baked-in scalars. Like a real capture it runs nothing: every
tensor the captured step touched is put back as it was before the capture. `replay()` runs the recorded operations
again on the same tensors, writing each result into the tensor the capture produced (the graph's static memory).
While capturing it fails on any read of a tensor's value on the host (`.item()`, `bool(t)`, `.cpu()`, `.tolist()`,
`.numpy()`), which a real capture cannot do either."""
import contextlib
from types import SimpleNamespace

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

HOST_READS = {'item', 'tolist', 'cpu', 'numpy', '__bool__', '__float__', '__int__', '__index__'}


class HostRead(RuntimeError):
    "A captured step read a tensor's value on the host."


class _NoHostReads(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, '__name__', '')
        if name in HOST_READS: raise HostRead(f"the captured step reads a tensor on the host ({name})")
        return func(*args, **(kwargs or {}))


class _Record(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops, self.before = [], {}
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for t in tree_flatten((args, kwargs))[0]:  # each tensor's memory as it was when the capture first met it
            if isinstance(t, torch.Tensor) and t.layout == torch.strided:
                s = t.untyped_storage()
                if s.data_ptr() not in self.before: self.before[s.data_ptr()] = (s, s.clone())
        out = func(*args, **kwargs)
        self.ops.append((func, args, kwargs, out))
        return out


class StandInGraph:
    "What `torch.cuda.CUDAGraph` is to `CudaGraphs`: filled by `graph(g)`, run by `replay()`."
    def __init__(self): self.ops, self.replays = None, 0
    @torch.no_grad()
    def replay(self):
        assert self.ops is not None, "replay of a graph that was never captured"
        for func, args, kwargs, out in self.ops:
            new = func(*args, **kwargs)
            for static, fresh in zip(tree_flatten(out)[0], tree_flatten(new)[0]):
                if isinstance(static, torch.Tensor) and static is not fresh and static.data_ptr() != fresh.data_ptr(): static.copy_(fresh)
        self.replays += 1


@contextlib.contextmanager
def graph(g: StandInGraph):
    rec = _Record()
    with _NoHostReads(), rec: yield
    with torch.no_grad():
        for storage, saved in rec.before.values(): storage.copy_(saved)  # a capture runs nothing
    g.ops = rec.ops


class _Stream:
    def wait_stream(self, other): pass


STANDIN = SimpleNamespace(runs_on=lambda device: True, CUDAGraph=StandInGraph, graph=graph, Stream=_Stream,
                          stream=lambda s: contextlib.nullcontext(), current_stream=_Stream, synchronize=lambda: None)
