"""Sample grids: a PNG under the run's samples/ at each validation and `final.png` at the end of fit."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from pytorch_lightning import Callback
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only
from torchvision.utils import make_grid, save_image


def image_grid(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> one (3 or 1, H', W') grid in [0, 1]."""
    nrow = nrow or max(1, int(math.sqrt(images.shape[0])))
    return make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(image_grid(images, nrow), path)
    return path


class SampleGrid(Callback):
    """Generates the same `num_samples` images (fixed `seed`) at each validation and at the end of fit.

    Conditional models are given the first captions of the validation split, so grids are comparable.
    """

    def __init__(self, dirpath: str, num_samples: int = 64, seed: int = 0):
        self.dirpath, self.num_samples, self.seed = Path(dirpath), num_samples, seed
        self.last_path: Path | None = None

    def _condition(self, trainer, pl_module):
        if not getattr(pl_module, "conditional", False) or trainer.datamodule is None:
            return None
        batch = trainer.datamodule.sample_batch("val" if "val" in trainer.datamodule.datasets else "train",
                                                self.num_samples)
        return batch["caption"]

    def _write(self, trainer, pl_module, name: str) -> None:
        images = pl_module.generate(self.num_samples, condition=self._condition(trainer, pl_module),
                                    generator=self.seed)
        self.last_path = save_grid(images, self.dirpath / f"{name}.png")
        grid = image_grid(images)
        step = trainer.global_step
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="samples", images=[grid], step=step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples", grid, step)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self._write(trainer, pl_module, f"step_{trainer.global_step:07d}")

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module, "final")
