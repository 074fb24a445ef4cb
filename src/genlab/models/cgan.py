"""`cgan`: a conditional GAN on captions or class labels, with every loss, option and the EMA of `model=gan`.

The generator has conditional batch norm and the discriminator a projection head (the networks of
`genlab.nets.resnet` take a `cond_dim`, as do those of `genlab.nets.cgan`); both see the pooled embedding
of the shared condition encoder (genlab.text).
Captions go through the text encoder chosen with `model/text_encoder=`, labels through a label embedding:
the model never branches on which.
"""

from __future__ import annotations

import torch

from genlab.models.base import as_generator
from genlab.models.gan import ADAM, DISCRIMINATOR, GAN, GENERATOR
from genlab.nets.build import with_defaults
from genlab.nets.ema import ema_update
from genlab.text.conditioning import Conditioned, check_condition_settings, transformer_text_encoder

TEXT_ENCODER = transformer_text_encoder(dim=64)  # only its pooled embedding is used: narrower


class CGAN(Conditioned, GAN):
    """Args as `GAN`, plus condition ("caption" or "label"), text_encoder (a genlab.text encoder config; its
    `dim` also sizes the label embedding), tokenizer (set by `fit_to_data`), num_classes (label mode).

    The condition encoder is trained by the discriminator (its parameters are in `optim_d`: the projection
    needs an embedding that separates conditions); the generator's update sees the encoded condition
    detached. `generate` uses the EMA generator with an EMA of the encoder (same decay), so the pair it
    samples with was averaged over the same steps.
    """

    averages_encoder = True

    legacy_networks = {"generator": "genlab.nets.cgan.ConditionalGenerator",
                       "discriminator": "genlab.nets.cgan.ProjectionDiscriminator"}

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 128,
                 generator: dict | None = None, discriminator: dict | None = None,
                 loss: str = "nonsaturating", n_dis: int = 1, r1_gamma: float = 0.0, gp_weight: float = 10.0,
                 diffaugment: str = "", optim_g: dict | None = None, optim_d: dict | None = None,
                 warmup_steps: int = 0, lr_decay: str = "none", ema_decay: float = 0.999, ema_start: int = 0,
                 truncation: float | None = None, condition: str = "caption", text_encoder: dict | None = None,
                 tokenizer: dict | None = None, num_classes: int = 0,
                 compile: bool | str = False, channels_last: bool = False):
        text_encoder = dict(text_encoder or TEXT_ENCODER)
        check_condition_settings(condition, text_encoder, num_classes)
        # the hyperparameters record this frame's values
        optim_g, optim_d = optim_g or ADAM, optim_d or ADAM
        # model=gan's networks, which take a condition (conditional batch norm, a projection head)
        generator, discriminator = with_defaults(generator, GENERATOR), with_defaults(discriminator, DISCRIMINATOR)
        super().__init__(image_size, channels, latent_dim, generator, discriminator, loss, n_dis, r1_gamma,
                         gp_weight, diffaugment, optim_g, optim_d, warmup_steps, lr_decay, ema_decay, ema_start,
                         truncation, compile, channels_last)
        self.save_hyperparameters()
        self.build_condition_encoder()

    def build_networks(self) -> None:
        super().build_networks(cond_dim=self.condition_dim)

    # ---- training: the encoder learns through D only ----------------------------------------------
    def training_condition(self, batch: dict) -> torch.Tensor:
        return self.encode_condition(self.condition_from_batch(batch)).pooled

    def fake_images(self, n: int, cond=None) -> torch.Tensor:
        return self.generator(self.sample_z(n), cond.detach())

    def generator_loss(self, fake: torch.Tensor, cond=None) -> torch.Tensor:
        return super().generator_loss(fake, cond.detach())

    def critic(self, x: torch.Tensor, cond=None) -> torch.Tensor:
        return self.discriminator(self._d_input(x), cond).float()  # losses in fp32 (GAN.critic)

    def discriminator_parameters(self) -> list:
        # the condition encoder trains with D (optim_d); G's update sees its output detached (fake_images, generator_loss)
        return list(self.discriminator.parameters()) + list(self.fitted_encoder().parameters())

    def update_ema(self) -> None:
        super().update_ema()
        ema_update(self.encoder_ema, self.condition_encoder, self.global_step - self.hparams.ema_start,
                   self.hparams.ema_decay)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        real, condition = batch["image"], self.condition_from_batch(batch)
        fake = self.sample_images(self.sample_z(real.shape[0]), condition)  # data captions: read, not checked
        cond = self.encode_condition(condition).pooled
        self.log_dict({"val/d_real": self.discriminator(real, cond).mean(),
                       "val/d_fake": self.discriminator(fake, cond).mean()}, batch_size=real.shape[0])

    # ---- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def decode_latent(self, z: torch.Tensor, condition=None) -> torch.Tensor:
        """Latents and conditions (checked: one per row, readable by the encoder) -> images."""
        self.check_condition(condition, z.shape[0])
        return self.sample_images(z, condition)

    @torch.no_grad()
    def sample_images(self, z: torch.Tensor, condition) -> torch.Tensor:
        """Images from the EMA generator and encoder (the raw ones when EMA is off), in eval mode."""
        ema = self.hparams.ema_decay > 0 and self.encoder_ema is not None
        encoder, net = (self.encoder_ema, self.generator_ema) if ema else (self.fitted_encoder(), self.generator)
        modes = encoder.training, net.training
        encoder.eval(), net.eval()
        images = net(z, encoder(condition).pooled).clamp(-1, 1)
        encoder.train(modes[0]), net.train(modes[1])
        return images

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None, truncation: float | None = None) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1], one for each of the n captions (or labels) of `condition`."""
        self.check_num_samples(n)
        self.check_condition(condition, n)
        return self.sample_images(self.sample_z(n, as_generator(generator), truncation or self.hparams.truncation),
                                  condition)
