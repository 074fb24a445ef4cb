"""Lightning's ModelCheckpoint, plus: `last.ckpt` always holds the final step of a run."""

from __future__ import annotations

import warnings

from pytorch_lightning.callbacks import ModelCheckpoint


class Checkpoint(ModelCheckpoint):
    """ModelCheckpoint that keeps one `last.ckpt` per run directory, always at the final step.

    - Lightning only saves `last` at train end if it was never saved, so a run of 700 steps saving every
      500 would leave `last.ckpt` at step 500; this saves it again.
    - Lightning's version counter would write `last-v1.ckpt` beside a stale `last.ckpt` on resume; genlab
      refuses to start a second run in a run directory, so `last.ckpt` is simply overwritten.
    - The state key does not depend on the saving schedule, so changing `every_n_train_steps` on resume
      keeps the callback's state (best model path and score).
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

    @property
    def state_key(self) -> str:
        return f"Checkpoint[monitor={self.monitor}]"

    def on_train_end(self, trainer, pl_module) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
