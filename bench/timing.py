"What the benches share: a callback that measures a fastai Learner's training throughput."
import time

import torch

from cifar_fast.core import quiet_imports
with quiet_imports(): from fastai.callback.core import Callback


class TrainTimer(Callback):
    "Images/s over an epoch's training batches after the first: data loading and fastai's loop included."
    order = 99
    def before_train(self): self.n, self.t0 = 0, None
    def after_batch(self):
        if not self.training: return
        if self.t0 is None: self._sync(); self.t0 = time.perf_counter()
        else: self.n += len(self.xb[0])
    def before_validate(self): self._sync(); self.rate = self.n / (time.perf_counter() - self.t0)
    def _sync(self):  # the GPU's queued work finished before the clock is read
        if self.dls.device is not None and torch.device(self.dls.device).type == 'cuda': torch.cuda.synchronize()
