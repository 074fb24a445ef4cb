"""Lightning's rich progress bar, counting genlab steps (batches) rather than an open-ended epoch count."""

from __future__ import annotations

from pytorch_lightning.callbacks import RichProgressBar


class StepProgressBar(RichProgressBar):
    def _get_train_description(self, current_epoch: int) -> str:
        return f"Epoch {current_epoch}"

    def get_metrics(self, trainer, pl_module):
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else "?"
        return {"step": f"{trainer.global_step}/{total}", **{k.removeprefix("train/"): v for k, v in metrics.items()}}
