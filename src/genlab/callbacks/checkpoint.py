"""Lightning's ModelCheckpoint, plus: `last.ckpt` always holds the final step of a run."""

from __future__ import annotations

from pytorch_lightning.callbacks import ModelCheckpoint


class Checkpoint(ModelCheckpoint):
    """ModelCheckpoint that also saves `last` when training ends between two scheduled saves.

    Lightning only saves `last` at train end if it was never saved, so a run of 700 steps saving every 500
    would leave `last.ckpt` at step 500.
    """

    def on_train_end(self, trainer, pl_module) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
