"""Stops a run whose loss turns NaN or infinite, with a message naming the step and the loss."""

from __future__ import annotations

import torch
from pytorch_lightning import Callback

from genlab.errors import GenlabError


class DivergenceError(GenlabError):
    """Training produced a non-finite loss."""


class DivergenceGuard(Callback):
    """After `patience` consecutive steps with a non-finite `train/*` metric, raise DivergenceError.

    It runs before the checkpoint callback (Lightning puts that last), so the diverged step is not saved;
    `Checkpoint` also refuses non-finite weights, so `last.ckpt` keeps the last finite state.
    """

    def __init__(self, patience: int = 1):
        if patience < 1:
            raise GenlabError(f"callbacks.divergence_guard.patience={patience} must be at least 1")
        self.patience, self.bad_steps = patience, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        if isinstance(outputs, torch.Tensor):
            metrics["loss"] = outputs
        elif isinstance(outputs, dict) and isinstance(outputs.get("loss"), torch.Tensor):
            metrics["loss"] = outputs["loss"]
        bad = {k: float(v) for k, v in metrics.items() if not torch.isfinite(torch.as_tensor(v)).all()}
        self.bad_steps = self.bad_steps + 1 if bad else 0
        if self.bad_steps >= self.patience:
            name, value = next(iter(bad.items()))
            ckpt = next((c for c in trainer.checkpoint_callbacks if getattr(c, "last_model_path", "")), None)
            kept = f"; {ckpt.last_model_path} keeps the last finite weights" if ckpt else ""
            raise DivergenceError(f"training diverged at step {trainer.global_step}: {name} is {value}{kept}; "
                                  f"lower the learning rate or resume with ckpt_path=last and other settings")
