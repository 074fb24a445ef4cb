"""Preemption: on SIGTERM (or SLURM's SIGUSR1) save `last.ckpt` after the current step and stop cleanly.

Under SLURM (SLURM_JOB_ID set) the job then requeues itself with `scontrol requeue`; the requeued job
resumes from `last.ckpt` (train.py reads SLURM_RESTART_COUNT). genlab turns Lightning's own SLURM requeue
off (train.build), so a job is requeued once, here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

from pytorch_lightning import Callback
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn


class Preemption(Callback):
    def __init__(self, signals: tuple[str, ...] = ("SIGTERM", "SIGUSR1"), requeue: bool = True):
        self.signals = [getattr(signal, name) for name in signals]
        self.requeue = requeue
        self.received: int | None = None
        self._previous: dict = {}

    def on_train_start(self, trainer, pl_module) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.signals:  # replaces Lightning's handlers for the training loop; restored at the end
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        self.received = signum  # act between steps, not inside the handler

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.received is None:
            return
        name = signal.Signals(self.received).name
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and ckpt.save_last:
            ckpt._save_last_checkpoint(trainer, ckpt._monitor_candidates(trainer))
        trainer.should_stop = True
        rank_zero_info(f"\nPreempted by {name} at step {trainer.global_step}: saved "
                       f"{ckpt.last_model_path if ckpt else 'no checkpoint'}; resume with ckpt_path=last")
        job = os.environ.get("SLURM_JOB_ID")
        if self.requeue and job and trainer.is_global_zero:
            try:
                subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True, timeout=60)
                rank_zero_info(f"requeued SLURM job {job}")
            except (OSError, subprocess.SubprocessError) as exc:
                rank_zero_warn(f"could not requeue SLURM job {job}: {exc}")
        self.received = None

    def on_train_end(self, trainer, pl_module) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
