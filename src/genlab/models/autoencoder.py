"""The machinery the whole autoencoder family shares (`AutoencoderFamily`), and the deterministic
convolutional autoencoder.

Every member (Autoencoder, VAE, VQVAE) subclasses `AutoencoderFamily` directly, takes its own settings in
its constructor and records them itself; the family's constructor takes no setting of theirs.

Generation: a plain autoencoder has no prior, so it samples a Gaussian fitted to recent training latents.
The fit is refreshed at each validation and whenever a checkpoint is written (so every checkpoint, a
mid-training one too, can `generate`) and lives in buffers saved with the weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchmetrics import MeanSquaredError
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from genlab.models.base import GenerativeModel, as_generator, build_optimizer, check_optimizer
from genlab.nets.conv import VectorDecoder, VectorEncoder
from genlab.utils.distributed import all_gather_rows

ADAM = {"_target_": "torch.optim.Adam", "lr": 1e-3}
LATENT_MEMORY = 4096  # training latents kept for the fitted density


class FittedGaussian(torch.nn.Module):
    """N(mean, L L^T) fitted to latents; starts as a standard normal. Buffers travel with the weights."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale_tril", torch.eye(dim))

    @torch.no_grad()
    def fit(self, latents: torch.Tensor) -> None:
        x = latents.double()
        if x.shape[0] < 2:
            return
        cov = torch.cov(x.T) if x.shape[1] > 1 else x.var().view(1, 1)
        cov = cov + 1e-5 * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
        self.mean.copy_(x.mean(0).to(self.mean))
        self.scale_tril.copy_(torch.linalg.cholesky(cov).to(self.scale_tril))

    def sample(self, eps: torch.Tensor) -> torch.Tensor:
        return self.mean + eps @ self.scale_tril.T


class AutoencoderFamily(GenerativeModel):
    """What every autoencoder shares: `encode`/`decode`/`reconstruct`, `generate` through a density over
    latents (a Gaussian fitted to the last training latents, unless the member samples a prior), validation
    MSE / PSNR / SSIM, and the latent memory kept in checkpoints.

    A member's constructor checks its settings, calls this one, calls `save_hyperparameters()` (which
    checks sizes against genlab.utils.schema before anything is allocated), and builds `encoder`,
    `decoder` and `density` (a `FittedGaussian` over its latent vectors) from `self.hparams`.
    """

    main_loss = "train/loss"
    optimizer_settings = ("optimizer",)

    density: FittedGaussian

    def __init__(self, image_size: int, channels: int):
        super().__init__(image_size, channels)
        self._latents: list[torch.Tensor] = []
        self.mse = MeanSquaredError()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)

    def latent_size(self) -> int:
        return self.density.mean.shape[0]

    # ---- the autoencoder interface ----------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample_latent(self, n: int, generator=None, condition=None) -> torch.Tensor:
        eps = torch.randn(n, self.latent_size(), generator=as_generator(generator)).to(self.device, self.dtype)
        return self.density.sample(eps)

    def decode_latent(self, z: torch.Tensor, condition=None) -> torch.Tensor:
        return self.decode(z)

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None) -> torch.Tensor:
        self.check_num_samples(n)
        return self.decode_latent(self.sample_latent(n, generator, condition), condition).clamp(-1, 1)

    # ---- training ---------------------------------------------------------------------------------
    def remember_latents(self, z: torch.Tensor) -> None:
        """Keep a training batch's latents for the density; in a distributed run every rank keeps the
        global batch's (one density, the one a single process would fit)."""
        self._latents.append(all_gather_rows(z.detach().flatten(1)).float().cpu())
        while sum(t.shape[0] for t in self._latents) > LATENT_MEMORY + self._latents[0].shape[0]:
            self._latents.pop(0)

    def refit_density(self) -> None:
        if self._latents:
            self.density.fit(torch.cat(self._latents)[-LATENT_MEMORY:].to(self.device, self.dtype))

    def on_validation_epoch_start(self) -> None:
        self.refit_density()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        x = batch["image"]
        recon = self.reconstruct(x, self.condition_from_batch(batch)).clamp(-1, 1)
        x01, r01 = (x.contiguous() + 1) / 2, (recon.contiguous() + 1) / 2
        self.mse(r01, x01)
        self.psnr(r01, x01)
        self.ssim(r01, x01)
        # in [0, 1] units, so that PSNR = -10 log10(MSE)
        self.log_dict({"val/mse": self.mse, "val/psnr": self.psnr, "val/ssim": self.ssim},
                      batch_size=x.shape[0], prog_bar=False)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        self.refit_density()  # the state dict was gathered before this hook: update its copy too
        for name, value in self.density.state_dict().items():
            checkpoint["state_dict"][f"density.{name}"] = value.detach().clone()
        if self._latents:  # a resumed run fits its density to the same latents as an uninterrupted one
            checkpoint["latent_memory"] = torch.cat(self._latents)[-LATENT_MEMORY:].clone()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        memory = checkpoint.get("latent_memory")
        self._latents = [memory.float()] if memory is not None else []

    def configure_optimizers(self):
        return build_optimizer(self.hparams.optimizer, self.parameters())


class Autoencoder(AutoencoderFamily):
    """Deterministic AE: x -> z (latent_dim) -> x'. Loss: mean squared error.

    Args:
        image_size, channels: from the data config. latent_dim: size of z. width: channels of the first
        conv stage (doubling per halving, up to 8x). optimizer: config with a `_target_`.
    """

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 32, width: int = 32,
                 optimizer: dict | None = None,
                 compile: bool | str = False, channels_last: bool = False):
        optimizer = check_optimizer("optimizer", optimizer or ADAM)
        super().__init__(image_size, channels)
        self.save_hyperparameters()
        self.encoder = VectorEncoder(channels, image_size, width, latent_dim)
        self.decoder = VectorDecoder(channels, image_size, width, latent_dim)
        self.density = FittedGaussian(latent_dim)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x = batch["image"]
        z = self.encode(x)
        self.remember_latents(z)
        loss = F.mse_loss(self.decode(z).float(), x)  # fp32 under mixed precision
        self.log_dict({"train/loss": loss, "train/mse": loss}, prog_bar=True, batch_size=x.shape[0])
        return loss


def bits_per_dim(nll_nats_per_image: torch.Tensor, dims: int) -> torch.Tensor:
    """Bits per dimension of 8-bit data from a continuous NLL on [-1, 1] (bin width 2/256)."""
    return (nll_nats_per_image / dims + math.log(128.0)) / math.log(2.0)
