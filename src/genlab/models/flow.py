"""`flow`: flow matching (Lipman et al., 2023; rectified flow, Liu et al., 2023), and the worked example of
docs/add_a_model.md: a family in one file and one config, on the U-Net of the diffusion family.

Training: an image x1, Gaussian noise x0 and a time t ~ U(0, 1) give the point x_t = (1 - t) x0 + t x1 on
the straight path between them; the U-Net learns the path's velocity x1 - x0 (mean squared error).
Sampling: Euler steps along the learned velocity from noise (t = 0) to an image (t = 1), from the EMA
weights. Noise is drawn on the CPU, so the same seed gives the same images on any device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.models.base import GenerativeModel, as_generator, build_optimizer, check_optimizer
from genlab.models.diffusion import ADAMW, UNET
from genlab.nets.build import build_network, with_defaults
from genlab.nets.ema import ema_copy, ema_update
from genlab.utils.distributed import shard

# diffusers' U-Nets embed timesteps sized for 1,000 discrete steps; t in [0, 1] is scaled to that range
TIME_SCALE = 1000.0


class Flow(GenerativeModel):
    """Args:
        image_size, channels: set by the data config.
        unet: the velocity network as a config node (`genlab.nets.unet.UNet`; a node without a `_target_`
            changes settings of the default).
        sample_steps: `generate`'s default number of Euler steps.
        optimizer: its config (allow-listed `_target_`). ema_decay: EMA of the U-Net that `generate` uses.
    """

    optimizer_settings = ("optimizer",)

    def __init__(self, image_size: int = 32, channels: int = 3, unet: dict | None = None, sample_steps: int = 50,
                 optimizer: dict | None = None, ema_decay: float = 0.999):
        super().__init__(image_size, channels)
        unet = with_defaults(unet, UNET)
        optimizer = check_optimizer("optimizer", optimizer or ADAMW)
        self.save_hyperparameters()  # checks ema_decay and the U-Net's settings (genlab.utils.schema)
        check_steps(sample_steps, "model.sample_steps")
        self.unet = build_network(unet, "unet", channels=channels, image_size=image_size)
        self.unet_ema = ema_copy(self.unet)

    def train(self, mode: bool = True):
        super().train(mode)
        self.unet_ema.eval()
        return self

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        x1 = batch["image"]
        n, shape = x1.shape[0], x1.shape[1:]
        # drawn for the global batch on the CPU: N DDP processes train as one does (docs/scaling.md)
        x0 = shard(lambda m: torch.randn(m, *shape, generator=generator), n).to(x1)
        t = shard(lambda m: torch.rand(m, generator=generator), n).to(x1)
        xt = (1 - t.view(-1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1) * x1
        return F.mse_loss(self.unet(xt, t * TIME_SCALE).float(), (x1 - x0).float())

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["image"].shape[0])
        return loss

    def optimizer_step(self, *args, **kwargs) -> None:
        # here, so that the checkpoint written at the end of this step holds the average it updated
        super().optimizer_step(*args, **kwargs)
        ema_update(self.unet_ema, self.unet, self.global_step, self.hparams.ema_decay)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # the same noise and times at every validation: the curve shows the model, not the draw
        loss = self.loss(batch, torch.Generator().manual_seed(batch_idx))
        self.log("val/loss", loss, batch_size=batch["image"].shape[0])

    def configure_optimizers(self):
        return build_optimizer(self.hparams.optimizer, [p for p in self.parameters() if p.requires_grad])

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None, steps: int | None = None) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] after `steps` Euler steps (default: the model's `sample_steps`)."""
        self.check_num_samples(n)
        steps = self.hparams.sample_steps if steps is None else steps
        check_steps(steps, "generate.steps")
        net = self.unet_ema if self.hparams.ema_decay > 0 else self.unet
        hp = self.hparams
        x = torch.randn((n, hp.channels, hp.image_size, hp.image_size), generator=as_generator(generator))
        x = x.to(self.device)
        for i in range(steps):
            t = torch.full((n,), i / steps, device=self.device)
            x = x + net(x, t * TIME_SCALE) / steps
        return x.clamp(-1, 1)


def check_steps(steps, name: str) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"{name}={steps!r} must be a whole number of Euler steps, 1 or more")
