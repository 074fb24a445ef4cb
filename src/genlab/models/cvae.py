"""Conditional VAE (Sohn et al., 2015): encoder and decoder both see the condition.

The condition (captions or class labels) goes through the shared condition encoder of genlab.text
(`model/text_encoder=` picks the text encoder; labels get a label embedding), whose pooled embedding joins
the image code before the posterior head and z before the decoder; the model never branches on which.
A caption model's tokenizer is fitted on the training captions by `fit_to_data` and saved with the
hyperparameters, so a checkpoint carries it.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.models.autoencoder import ADAM
from genlab.models.vae import VAE
from genlab.nets.conv import VectorDecoder, VectorEncoder
from genlab.text.conditioning import Conditioned, check_condition_settings, transformer_text_encoder

TEXT_ENCODER = transformer_text_encoder(dim=64)  # only its pooled embedding is used: narrower


class CVAE(Conditioned, VAE):
    """Args as `VAE`, plus condition ("caption" or "label"), text_encoder (a genlab.text encoder config; its
    `dim` also sizes the label embedding), tokenizer (set by `fit_to_data`), num_classes (label mode)."""

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 16, width: int = 32,
                 beta: float = 1.0, condition: str = "caption", text_encoder: dict | None = None,
                 tokenizer: dict | None = None, num_classes: int = 0, optimizer: dict | None = None,
                 compile: bool | str = False, channels_last: bool = False):
        text_encoder = dict(text_encoder or TEXT_ENCODER)
        check_condition_settings(condition, text_encoder, num_classes)
        optimizer = optimizer or ADAM  # the hyperparameters record this frame's values
        super().__init__(image_size, channels, latent_dim, width, beta, optimizer, compile, channels_last)
        self.save_hyperparameters()
        self.build_condition_encoder()

    def build_networks(self) -> None:
        # the image network is `image_encoder`: `encoder()` is the condition encoder's accessor (Conditioned)
        hp, c = self.hparams, self.condition_dim
        self.image_encoder = VectorEncoder(hp.channels, hp.image_size, hp.width, 2 * hp.latent_dim)
        self.decoder = VectorDecoder(hp.channels, hp.image_size, hp.width, hp.latent_dim)
        self.log_sigma = nn.Parameter(torch.tensor(-1.0))
        # the condition joins the image code before the posterior head, and z before the decoder
        self.posterior_head = nn.Linear(2 * hp.latent_dim + c, 2 * hp.latent_dim)
        self.condition_to_latent = nn.Linear(hp.latent_dim + c, hp.latent_dim)

    def embed_condition(self, condition, n: int) -> torch.Tensor:
        """The pooled embedding (n, condition_dim) of n conditions. Training and reconstruction only refuse a
        missing condition or a wrong count (data captions are read as the encoder reads them, cut to its
        length); `generate` checks prompts fully."""
        if condition is None or len(condition) != n:
            self.check_condition(condition, n)  # raises: no condition, or not one per row
        return self.encode_condition(condition).pooled

    def posterior(self, x: torch.Tensor, condition=None):
        c = self.embed_condition(condition, x.shape[0])
        mu, logvar = self.posterior_head(torch.cat([self.image_encoder(x), c], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode(self, z: torch.Tensor, condition=None) -> torch.Tensor:
        c = self.embed_condition(condition, z.shape[0])
        return self.decoder(self.condition_to_latent(torch.cat([z, c], 1)))

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None) -> torch.Tensor:
        self.check_num_samples(n)
        self.check_condition(condition, n)
        return super().generate(n, condition, generator)
