"""Lightning's ModelCheckpoint, made safe: atomic writes, never non-finite weights, one current last.ckpt."""

from __future__ import annotations

import contextlib
import os
import warnings
from weakref import proxy

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_warn

from genlab.errors import GenlabError
from genlab.utils.files import atomic_replace


def all_finite(module: torch.nn.Module) -> bool:
    return all(torch.isfinite(t).all() for t in module.state_dict().values() if t.is_floating_point())


class Checkpoint(ModelCheckpoint):
    """ModelCheckpoint that keeps one `last.ckpt` per run directory, always at the final step.

    - Lightning only saves `last` at train end if it was never saved, so a run of 700 steps saving every
      500 would leave `last.ckpt` at step 500; this saves it again.
    - Lightning's version counter would write `last-v1.ckpt` beside a stale `last.ckpt` on resume; genlab
      refuses to start a second run in a run directory, so `last.ckpt` is simply overwritten.
    - The state key does not depend on the saving schedule, so changing `every_n_train_steps` on resume
      keeps the callback's state (best model path and score).
    - Each file is written beside its target, fsynced and renamed over it (`atomic_replace`), and weights
      holding NaN or infinity are never saved, so `last.ckpt` is always the last good state.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("enable_version_counter", False)
        super().__init__(*args, **kwargs)

    def on_train_batch_end(self, *args, **kwargs) -> None:
        # Lightning warns that a manual-optimisation checkpoint holds the state after the step's updates:
        # that is exactly what resuming needs, so the warning is noise here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ModelCheckpoint with manual optimization.*")
            super().on_train_batch_end(*args, **kwargs)
        trainer = args[0] if args else kwargs["trainer"]
        # the final step's checkpoint is written here, inside its epoch, rather than at train end, where
        # Lightning has already counted the epoch as finished: extending the run (a larger max_steps)
        # then continues the same epoch's data order, as the uninterrupted run does
        if (self.save_last and 0 < trainer.max_steps <= trainer.global_step
                and self._last_global_step_saved != trainer.global_step):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        if not all_finite(trainer.lightning_module):
            rank_zero_warn(f"not saving {filepath}: the weights hold NaN or infinite values at step "
                           f"{trainer.global_step}; the previous checkpoint is kept")
            return
        tmp = f"{filepath}.tmp"
        try:
            trainer.save_checkpoint(tmp, self.save_weights_only)
            if trainer.is_global_zero:
                atomic_replace(tmp, filepath)
        except OSError as exc:  # disk full, read-only or unwritable folder: keep the old file, drop the partial one
            with contextlib.suppress(OSError):
                os.remove(tmp)
            kept = f"; {filepath} keeps the step it had" if os.path.exists(filepath) else ""
            raise GenlabError(f"could not write checkpoint {filepath} at step {trainer.global_step} "
                              f"({exc.strerror or type(exc).__name__}){kept}; free disk space or make "
                              f"{os.path.dirname(filepath)} writable, then resume with ckpt_path=last") from None
        trainer.strategy.barrier("genlab_checkpoint")
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    @property
    def state_key(self) -> str:
        return f"Checkpoint[monitor={self.monitor}]"

    def on_train_end(self, trainer, pl_module) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
