"What the benches share: reading the clock after the GPU's queued work, and a callback that measures a fastai Learner's training throughput."
import time

import torch

from cifar_fast.core import quiet_imports
with quiet_imports(): from fastai.callback.core import Callback


def sync(device):
    "Wait for `device`'s queued work (a GPU's), so that the clock reads finished work."
    if device is not None and torch.device(device).type == 'cuda': torch.cuda.synchronize()


class TrainTimer(Callback):
    "Images/s over an epoch's training batches after the first: data loading and fastai's loop included."
    order = 99
    def before_train(self): self.n, self.t0 = 0, None
    def after_batch(self):
        if not self.training: return
        if self.t0 is None: sync(self.dls.device); self.t0 = time.perf_counter()
        else: self.n += len(self.xb[0])
    def before_validate(self): sync(self.dls.device); self.rate = self.n / (time.perf_counter() - self.t0)
