"""Preemption and Ctrl-C: save `last.ckpt` after the current step and stop cleanly.

SIGTERM (or SLURM's SIGUSR1): save, stop, and under SLURM (SLURM_JOB_ID set) requeue the job with
`scontrol requeue`; the requeued job resumes from `last.ckpt` (train.py reads SLURM_RESTART_COUNT). genlab
turns Lightning's own SLURM requeue off (train.build), so a job is requeued once, here.

SIGINT (Ctrl-C): say so on stderr, save, stop, never requeue; `interrupted` is then True, `train()`
raises KeyboardInterrupt and the command exits with status 130. A second Ctrl-C before the run has stopped
stops it at once: the handler that was there before (Python's, raising KeyboardInterrupt) is put back and
KeyboardInterrupt raised, which Lightning turns into its shutdown (the command exits 130 too). A SIGINT
ignored when training starts (a background job of a script) stays ignored.

In a distributed run a signal reaches the ranks at different moments, or only one of them (a SIGTERM sent to
the launching process): after every step the ranks agree on the strongest signal any of them received, so
all of them save the same step together and stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import torch
from pytorch_lightning import Callback
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

from genlab.errors import ConfigError


def _say(line: str) -> None:
    """One line on stderr from a signal handler: written straight to the file descriptor, since writing to
    sys.stderr's buffer while the interrupted code is writing there raises `reentrant call`."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor (notebooks)
        sys.stderr.write(line + "\n")
        return
    os.write(fd, (("\n" if os.isatty(fd) else "") + line + "\n").encode())


class Preemption(Callback):
    def __init__(self, signals: tuple[str, ...] = ("SIGTERM", "SIGUSR1", "SIGINT"), requeue: bool = True):
        unknown = [name for name in signals if not isinstance(getattr(signal, str(name), None), signal.Signals)]
        if unknown:
            raise ConfigError(f"callbacks.preemption.signals: {unknown[0]} is not a signal of this system; "
                              f"use names such as SIGTERM, SIGUSR1, SIGINT")
        self.signals = [getattr(signal, name) for name in signals]
        self.requeue = requeue
        self.received: int | None = None  # the signal to act on at the end of the current step
        self.interrupted = False  # True once a Ctrl-C (SIGINT) stops the run: the entry point exits 130
        # True once SIGTERM/SIGUSR1 stops it: the scheduler kills the job after a short grace period and the
        # run resumes later, so end-of-fit work (SampleGrid's final grid) is skipped
        self.preempted = False
        self._previous: dict = {}
        self._pid: int | None = None
        self._rank_zero = True

    def on_train_start(self, trainer, pl_module) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        # DataLoader workers forked later inherit the handler, and a terminal's Ctrl-C reaches them too:
        # they leave the signal to this process
        self._pid, self._rank_zero = os.getpid(), trainer.is_global_zero
        for signum in self.signals:  # replaces Lightning's handlers for the training loop; restored at the end
            if signum == signal.SIGINT and signal.getsignal(signum) == signal.SIG_IGN:
                continue
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            return
        if signum != signal.SIGINT:
            if self.received is None:
                self.received = signum  # act between steps, not inside the handler
            return
        if self.interrupted:  # the second Ctrl-C: stop at once
            previous = self._previous.pop(signal.SIGINT, None)
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
            raise KeyboardInterrupt
        self.interrupted, self.received = True, signum
        if self._rank_zero:
            _say("genlab: Ctrl-C: saving last.ckpt and stopping after the current step "
                 "(press Ctrl-C again to stop at once)")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.world_size > 1:
            agreed = int(trainer.strategy.reduce(torch.tensor(self.received or 0, device=pl_module.device),
                                                 reduce_op="max"))
            if agreed:
                self.received, self.interrupted = agreed, agreed == signal.SIGINT
        if self.received is None:
            return
        name = signal.Signals(self.received).name
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and ckpt.save_last:
            ckpt._save_last_checkpoint(trainer, ckpt._monitor_candidates(trainer))
        trainer.should_stop = True
        saved = ckpt.last_model_path if ckpt else "no checkpoint"
        if self.received == signal.SIGINT:
            rank_zero_info(f"\nInterrupted by Ctrl-C (SIGINT) at step {trainer.global_step}: saved {saved}; "
                           f"resume with ckpt_path=last")
            self.received = None
            return
        self.preempted = True
        rank_zero_info(f"\nPreempted by {name} at step {trainer.global_step}: saved {saved}; "
                       f"resume with ckpt_path=last")
        job = os.environ.get("SLURM_JOB_ID")
        if self.requeue and job and trainer.is_global_zero:
            try:
                subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True, timeout=60)
                rank_zero_info(f"requeued SLURM job {job}")
            except (OSError, subprocess.SubprocessError) as exc:
                rank_zero_warn(f"could not requeue SLURM job {job}: {exc}")
        self.received = None

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        # after a KeyboardInterrupt Lightning ignores SIGINT while it shuts down, then exits: leave it so
        self._restore(keep_sigint=isinstance(exception, KeyboardInterrupt))

    def _restore(self, keep_sigint: bool = False) -> None:
        for signum, handler in self._previous.items():
            if not (keep_sigint and signum == signal.SIGINT):
                signal.signal(signum, handler)
        self._previous = {}
