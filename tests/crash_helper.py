"""Test helper (importable by subprocesses with tests/ on PYTHONPATH): die like a killed job."""

import os
import signal

from pytorch_lightning import Callback


class KillAtStep(Callback):
    """SIGKILL this process when step `step` is about to start (after the checkpoints of the step before)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class PoisonAtStep(Callback):
    """Set every weight to NaN when step `step` starts: the loss of that step is NaN."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            import torch

            with torch.no_grad():
                for p in pl_module.parameters():
                    p.fill_(float("nan"))
