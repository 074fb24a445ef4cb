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
from genlab.nets.caption_encoder import CaptionEncoder, build_vocabulary, words


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
        """Caption mode: the vocabulary is every word of the data set's captions, every split (the sample
        grids and evaluation condition on val captions, and unknown words are refused)."""
        if self.hparams.condition != "caption":
            return
        dm = self.trainer.datamodule
        train = dm.captions("train")
        if not any(words(c) for c in train):
            raise ConfigError("model.condition=caption but the data set has no captions (every training caption is "
                              "empty): give it captions (data=folder reads captions.jsonl in data.root), or use "
                              "model.condition=label on a data set with classes, or an unconditional model")
        captions = train + [c for split in sorted(dm.datasets) if split != "train" for c in dm.captions(split)]
        if self.caption_encoder is None:
            vocabulary = build_vocabulary(captions)
            self.caption_encoder = CaptionEncoder(vocabulary, self.hparams.condition_dim).to(self.device)
            self.hparams.vocabulary = vocabulary
        elif unknown := self.caption_encoder.unknown_words(captions):
            raise ConfigError(f"model.vocabulary lacks words of the data set's captions ({', '.join(map(repr, unknown[:8]))}"
                              f"{', ...' if len(unknown) > 8 else ''}); leave model.vocabulary=null to build it from "
                              f"the data")

    @property
    def conditions_on(self) -> str:
        return self.hparams.condition

    def condition_from_batch(self, batch: dict):
        return batch["label"] if self.hparams.condition == "label" else batch["caption"]

    def condition_from_prompts(self, prompts: list[str]):
        if self.hparams.condition == "caption":
            if self.caption_encoder is not None:
                self.caption_encoder.check_known(prompts)
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
        if (self.hparams.condition == "caption" and self.caption_encoder is not None and condition is not None
                and not isinstance(condition, str) and all(isinstance(c, str) for c in condition)):
            self.caption_encoder.check_known(condition)
        return super().generate(n, condition, generator)
