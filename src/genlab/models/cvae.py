"""Conditional VAE (Sohn et al., 2015): encoder and decoder both see the condition.

`condition: label` embeds the class label; `condition: caption` encodes captions with the shared
`CaptionEncoder`, whose vocabulary is built from the training captions when fitting starts (or given)
and saved with the hyperparameters.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.errors import ConfigError
from genlab.models.vae import VAE
from genlab.nets.caption_encoder import CaptionEncoder, build_vocabulary


class CVAE(VAE):
    """Args as `VAE`, plus condition ("label" or "caption"), num_classes (label mode), condition_dim,
    vocabulary (caption mode; None = build from the training captions)."""

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 16, width: int = 32,
                 beta: float = 1.0, condition: str = "caption", num_classes: int = 0, condition_dim: int = 64,
                 vocabulary: list[str] | None = None, optimizer: dict | None = None):
        if condition not in ("label", "caption"):
            raise ConfigError(f"model.condition={condition!r} must be 'label' or 'caption'")
        if condition == "label" and num_classes < 1:
            raise ConfigError("model.condition=label needs a data set with classes (data.num_classes > 0)")
        super().__init__(image_size, channels, latent_dim, width, beta, optimizer)
        self.save_hyperparameters()
        self.label_embed = nn.Embedding(max(num_classes, 1), condition_dim) if condition == "label" else None
        self.caption_encoder = CaptionEncoder(vocabulary, condition_dim) if vocabulary else None
        # the condition joins the image code before the posterior head, and z before the decoder
        self.posterior_head = nn.Linear(2 * latent_dim + condition_dim, 2 * latent_dim)
        self.condition_to_latent = nn.Linear(latent_dim + condition_dim, latent_dim)

    def setup(self, stage: str) -> None:
        if self.hparams.condition == "caption" and self.caption_encoder is None:
            dm = self.trainer.datamodule
            vocabulary = build_vocabulary(dm.captions("train"))
            self.caption_encoder = CaptionEncoder(vocabulary, self.hparams.condition_dim).to(self.device)
            self.hparams.vocabulary = vocabulary

    @property
    def conditions_on(self) -> str:
        return self.hparams.condition

    def condition_from_batch(self, batch: dict):
        return batch["label"] if self.hparams.condition == "label" else batch["caption"]

    def condition_from_prompts(self, prompts: list[str]):
        if self.hparams.condition == "caption":
            return prompts
        try:
            return torch.tensor([int(p) for p in prompts])
        except ValueError:
            raise ConfigError(f"this model is conditioned on class labels: give prompt=N with N in "
                              f"0..{self.hparams.num_classes - 1}") from None

    def embed_condition(self, condition, n: int) -> torch.Tensor:
        if condition is None:
            raise ConfigError(f"this model is conditioned on {self.hparams.condition}s: pass condition= "
                              f"(a list of {n} {self.hparams.condition}s), or prompt= to genlab.sample")
        if self.hparams.condition == "label":
            labels = torch.as_tensor(condition, dtype=torch.long, device=self.device).view(-1)
            if labels.min() < 0 or labels.max() >= self.hparams.num_classes:
                raise ConfigError(f"labels must be in 0..{self.hparams.num_classes - 1}")
            return self.label_embed(labels)
        if isinstance(condition, str) or not all(isinstance(c, str) for c in condition):
            raise ConfigError("caption conditions must be a list of strings")
        if self.caption_encoder is None:
            raise ConfigError("the caption encoder has no vocabulary yet: train the model or pass vocabulary=")
        return self.caption_encoder(list(condition))[2]

    def posterior(self, x: torch.Tensor, condition=None):
        c = self.embed_condition(condition, x.shape[0])
        mu, logvar = self.posterior_head(torch.cat([self.encoder(x), c], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode(self, z: torch.Tensor, condition=None) -> torch.Tensor:
        c = self.embed_condition(condition, z.shape[0])
        return self.decoder(self.condition_to_latent(torch.cat([z, c], 1)))

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None) -> torch.Tensor:
        self.check_num_samples(n)
        if condition is not None and len(condition) != n:
            raise ConfigError(f"got {len(condition)} conditions for {n} samples; give one per sample")
        return super().generate(n, condition, generator)
