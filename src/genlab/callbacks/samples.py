"""Sample grids: a PNG under the run's samples/ at each validation and `final.png` at the end of fit
(not after a preemption, which resumes later)."""

from __future__ import annotations

from pathlib import Path

import torch
from pytorch_lightning import Callback
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from genlab.utils.generate_options import generate_options
from genlab.utils.images import image_grid, save_grid, to_uint8


class SampleGrid(Callback):
    """Generates the same `num_samples` images (fixed `seed`) at each validation and at the end of fit.

    Conditional models are given the first captions (or labels) of the training split, so grids are
    comparable and every word is one the model's tokenizer was fitted on; unconditional models' grids of
    reconstructions show the first validation images.
    `generate`: keyword options for the model's `generate` (e.g. {"truncation": 0.7}), checked at fit start.
    """

    def __init__(self, dirpath: str, num_samples: int = 64, seed: int = 0, generate: dict | None = None):
        self.dirpath, self.num_samples, self.seed = Path(dirpath), num_samples, seed
        self.generate = generate
        self.last_path: Path | None = None

    def _options(self, pl_module) -> dict:
        return generate_options(pl_module, self.generate, where="callbacks.samples.generate")

    def on_fit_start(self, trainer, pl_module) -> None:
        self._options(pl_module)  # an option the model's generate does not take: refused before the first step

    def _batch(self, trainer, conditional: bool) -> dict | None:
        dm = trainer.datamodule
        if dm is None:
            return None
        return dm.sample_batch("val" if "val" in dm.datasets and not conditional else "train", self.num_samples)

    def _write(self, trainer, pl_module, name: str) -> None:
        batch = self._batch(trainer, pl_module.conditional)
        condition = pl_module.condition_from_batch(batch) if batch is not None else None
        n = self.num_samples if condition is None else len(condition)
        images = pl_module.generate(n, condition=condition, generator=self.seed, **self._options(pl_module))
        self.last_path = save_grid(images, self.dirpath / f"{name}.png")
        self._log(trainer, "samples", image_grid(images))
        if hasattr(pl_module, "reconstruct") and batch is not None:
            # originals and reconstructions side by side, in pairs of columns
            x = batch["image"][: max(2, n // 2)].to(pl_module.device, pl_module.dtype)
            recon = pl_module.reconstruct(x, condition[: x.shape[0]] if condition is not None else None)
            pairs = torch.stack([x, recon.clamp(-1, 1)], 1).flatten(0, 1)
            save_grid(pairs, self.dirpath / f"{name}_reconstructions.png", nrow=8)
            self._log(trainer, "reconstructions", image_grid(pairs, 8))

    @staticmethod
    def _log(trainer, key: str, grid: torch.Tensor) -> None:
        """Give each logger the grid (C, H, W in [0, 1]) as it expects images: 0..255 for both.

        wandb.Image casts arrays to uint8 without scaling (a [0, 1] float grid comes out black), so it gets
        an (H, W, C) uint8 array; TensorBoard scales floats by 255 and truncates, so it gets the (C, H, W)
        uint8 grid, which it stores unscaled. Both then hold the pixels of the PNG under samples/.
        """
        pixels = to_uint8(grid)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=key, images=[pixels.permute(1, 2, 0).numpy()], step=trainer.global_step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(key, pixels, trainer.global_step, dataformats="CHW")

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self._write(trainer, pl_module, f"step_{trainer.global_step:07d}")

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        if any(getattr(c, "preempted", False) for c in trainer.callbacks):
            return  # the job is about to be killed; the resumed run writes the grid when it finishes
        self._write(trainer, pl_module, "final")
