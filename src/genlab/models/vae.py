"""Gaussian VAE (Kingma & Welling, 2014); `beta` != 1 gives a beta-VAE (Higgins et al., 2017).

The decoder's likelihood is a Gaussian with one learned scale (sigma-VAE, Rybkin et al., 2021), so the
balance between reconstruction and KL needs no hand tuning; `beta` still scales the KL term.
Logs reconstruction NLL, KL, the ELBO and bits per dimension. Generation samples the N(0, I) prior.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.models.autoencoder import ADAM, AutoencoderFamily, FittedGaussian, bits_per_dim
from genlab.models.base import as_generator, check_optimizer
from genlab.nets.conv import VectorDecoder, VectorEncoder
from genlab.utils.distributed import shard


class VAE(AutoencoderFamily):
    """Args as `Autoencoder` (latent_dim, width, optimizer), plus beta: weight of the KL term (1 = the ELBO)."""

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 16, width: int = 32,
                 beta: float = 1.0, optimizer: dict | None = None,
                 compile: bool | str = False, channels_last: bool = False):
        if not beta >= 0:
            raise ConfigError(f"model.beta={beta!r} must be zero or positive")
        optimizer = check_optimizer("optimizer", optimizer or ADAM)
        super().__init__(image_size, channels)
        self.save_hyperparameters()
        self.build_networks()
        self.density = FittedGaussian(latent_dim)  # unused (the prior is sampled); kept for checkpoints' keys

    def build_networks(self) -> None:
        """The encoder (mean and log-variance) and decoder; a conditional VAE adds its condition's layers."""
        hp = self.hparams
        self.encoder = VectorEncoder(hp.channels, hp.image_size, hp.width, 2 * hp.latent_dim)
        self.decoder = VectorDecoder(hp.channels, hp.image_size, hp.width, hp.latent_dim)
        self.log_sigma = torch.nn.Parameter(torch.tensor(-1.0))

    def posterior(self, x: torch.Tensor, condition=None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def encode(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.posterior(x, condition)[0]

    def decode(self, z: torch.Tensor, condition=None) -> torch.Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, condition=None) -> torch.Tensor:
        return self.decode(self.encode(x, condition), condition)

    def sample_latent(self, n: int, generator=None, condition=None) -> torch.Tensor:
        return torch.randn(n, self.hparams.latent_dim, generator=as_generator(generator)).to(self.device, self.dtype)

    def decode_latent(self, z: torch.Tensor, condition=None) -> torch.Tensor:
        return self.decode(z, condition)

    def losses(self, x: torch.Tensor, condition=None) -> dict:
        mu, logvar = self.posterior(x, condition)
        eps = shard(lambda m: torch.randn(m, *mu.shape[1:], dtype=mu.dtype, device=mu.device), mu.shape[0])
        z = mu + eps * (0.5 * logvar).exp()
        recon = self.decode(z, condition).float()  # the likelihood in fp32 under mixed precision
        dims = x[0].numel()
        sigma = self.log_sigma.exp()
        nll = (0.5 * ((x - recon) / sigma) ** 2 + self.log_sigma + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        loss = (nll + self.hparams.beta * kl).mean() / dims
        return {"loss": loss, "nll": nll.mean(), "kl": kl.mean(), "elbo": -(nll + kl).mean(),
                "bpd": bits_per_dim(nll + kl, dims).mean(), "mse": F.mse_loss(recon, x)}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x = batch["image"]
        out = self.losses(x, self.condition_from_batch(batch))
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=x.shape[0])  # each log costs 1 ms: once
        self.log_dict({f"train/{k}": v for k, v in out.items() if k != "loss"}, batch_size=x.shape[0])
        return out["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        out = self.losses(batch["image"], self.condition_from_batch(batch))
        self.log_dict({"val/elbo": out["elbo"], "val/bpd": out["bpd"], "val/kl": out["kl"]},
                      batch_size=batch["image"].shape[0])

    def refit_density(self) -> None:
        """A VAE samples its prior; nothing to fit."""
