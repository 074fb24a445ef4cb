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


class InterruptAtStep(Callback):
    """Ctrl-C as a terminal sends it: SIGINT to this process's group (DataLoader workers included), `times`
    times when step `step` is about to start, each once the run's Preemption callback has seen the one
    before (signals sent back to back can merge into one)."""

    def __init__(self, step: int, times: int = 1):
        self.step, self.times = step, times

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step != self.step:
            return
        import time

        from genlab.callbacks import Preemption

        preemption = next(c for c in trainer.callbacks if isinstance(c, Preemption))
        for _ in range(self.times):
            seen = preemption.interrupted
            if os.getpgrp() == os.getpid():  # started in a session of its own (never signal the test runner)
                os.killpg(os.getpgrp(), signal.SIGINT)
            else:
                os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 10
            while preemption.interrupted == seen and time.monotonic() < deadline:
                time.sleep(0.01)


class KillGroupAtStep(Callback):
    """A machine lost under a distributed run: SIGKILL to every rank at once (the process group of rank 0,
    which must lead a session of its own: never the test runner's group) when step `step` is about to start."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step and trainer.global_rank == 0 and os.getpgrp() == os.getpid():
            os.killpg(os.getpgrp(), signal.SIGKILL)


class SignalAtStep(Callback):
    """Send the signal `name` to the process of rank `rank` alone when step `step` is about to start."""

    def __init__(self, step: int, name: str = "SIGTERM", rank: int = 0):
        self.step, self.signum, self.rank = step, getattr(signal, name), rank

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step and trainer.global_rank == self.rank:
            os.kill(os.getpid(), self.signum)


class RecordHparams(Callback):
    """Write what this rank trains with to DIRPATH/hparams_rank{R}.json, refusing to write it twice."""

    def __init__(self, dirpath: str):
        self.dirpath = dirpath

    def on_train_start(self, trainer, pl_module):
        import json

        with open(os.path.join(self.dirpath, f"hparams_rank{trainer.global_rank}.json"), "x") as f:
            json.dump({"optim_g": dict(pl_module.hparams.optim_g), "world_size": trainer.world_size}, f)


class FailInJob(Callback):
    """Raise when training starts in the sweep job whose folder is named `job`."""

    def __init__(self, job: str):
        self.job = str(job)

    def on_train_start(self, trainer, pl_module):
        if os.path.basename(os.path.normpath(trainer.default_root_dir)) == self.job:
            raise RuntimeError(f"job {self.job} crashed on purpose")
