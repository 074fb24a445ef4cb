"""GAN family: networks chosen in config (ResNet or DCGAN), a choice of loss, R1, DiffAugment, TTUR and EMA.

One training step = one batch = `n_dis` discriminator updates (on that batch) + one generator update;
`global_step` counts generator updates only. The EMA generator is an explicit frozen copy of the
generator (never of the discriminator), updated after every generator step, and used by `generate`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.models.base import GenerativeModel, as_generator, build_optimizer, check_optimizer
from genlab.nets.build import build_network, with_defaults
from genlab.nets.diffaugment import check_policy, diff_augment
from genlab.nets.ema import ema_copy, ema_update
from genlab.utils.distributed import shard
from genlab.utils.lr_schedule import schedulers_for, warmup_decay

LOSSES = ("nonsaturating", "hinge", "wgan_gp")
ADAM = {"_target_": "torch.optim.Adam", "lr": 2e-3, "betas": [0.0, 0.99]}  # as conf/model/gan.yaml
# the networks of conf/model/gan.yaml (conf/model/generator/, conf/model/discriminator/)
GENERATOR = {"_target_": "genlab.nets.resnet.Generator", "width": 16, "norm": "batch"}
DISCRIMINATOR = {"_target_": "genlab.nets.resnet.Discriminator", "width": 16, "spectral_norm": True,
                 "minibatch_std": True}
# checkpoints and runs from before the networks were config nodes: flat settings of the DCGAN networks
LEGACY_SETTINGS = {"g_width": ("generator", "width"), "g_norm": ("generator", "norm"),
                   "d_width": ("discriminator", "width"), "d_norm": ("discriminator", "norm"),
                   "spectral_norm": ("discriminator", "spectral_norm"),
                   "minibatch_std": ("discriminator", "minibatch_std")}


class GAN(GenerativeModel):
    """An unconditional GAN.

    Args:
        image_size, channels: set by the data config.
        latent_dim: size of z.
        generator / discriminator: the networks as config nodes, a `_target_` under genlab.nets and the
            architecture's settings (width, norm; spectral_norm and minibatch_std for discriminators); the
            model adds the sizes. `genlab.nets.resnet` and `genlab.nets.dcgan` hold the choices. A node
            without a `_target_` changes settings of the default network: `generator={"width": 8}`.
        loss: "nonsaturating" (the DCGAN paper's BCE), "hinge" or "wgan_gp" (gp_weight for its penalty).
        n_dis: discriminator updates per generator update. r1_gamma: R1 penalty weight (0 = off).
        diffaugment: DiffAugment policy, e.g. "color,translation,cutout" ("" = off).
        optim_g / optim_d: optimizer configs with a `_target_` (separate learning rates give TTUR).
        warmup_steps / lr_decay: learning-rate schedule shared by both optimizers.
        ema_decay: EMA of the generator (0 = off, generate uses the raw generator). ema_start: steps before
            averaging starts (the copy tracks the generator exactly until then).
        truncation: if set, `generate` resamples latent entries whose magnitude exceeds it.
    """

    main_loss = "train/d_loss"
    optimizer_settings = ("optim_g", "optim_d")
    ddp_unused_parameters = True  # the generator has no gradient in the discriminator update, and back

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 128,
                 generator: dict | None = None, discriminator: dict | None = None,
                 loss: str = "nonsaturating", n_dis: int = 1, r1_gamma: float = 0.0, gp_weight: float = 10.0,
                 diffaugment: str = "", optim_g: dict | None = None, optim_d: dict | None = None,
                 warmup_steps: int = 0, lr_decay: str = "none", ema_decay: float = 0.999, ema_start: int = 0,
                 truncation: float | None = None,
                 compile: bool | str = False, channels_last: bool = False):
        super().__init__(image_size, channels)
        if loss not in LOSSES:
            raise ConfigError(f"model.loss={loss!r} is not known; use one of {list(LOSSES)}")
        if not isinstance(n_dis, int) or n_dis < 1:
            raise ConfigError(f"model.n_dis={n_dis!r} must be a positive integer")
        if not 0.0 <= ema_decay < 1.0:
            raise ConfigError(f"model.ema_decay={ema_decay!r} must be in [0, 1)")
        if truncation is not None and truncation <= 0:
            raise ConfigError(f"model.truncation={truncation!r} must be positive or null")
        check_policy(diffaugment)
        optim_g = check_optimizer("optim_g", optim_g or ADAM)
        optim_d = check_optimizer("optim_d", optim_d or ADAM)
        generator, discriminator = with_defaults(generator, GENERATOR), with_defaults(discriminator, DISCRIMINATOR)
        warmup_decay(warmup_steps, lr_decay, None)
        self.save_hyperparameters()
        self.automatic_optimization = False

        self.build_networks()
        self.generator_ema = ema_copy(self.generator)

    def build_networks(self, **condition) -> None:
        """Set `self.generator` and `self.discriminator` from their config nodes; `condition` (cond_dim for
        a conditional GAN) goes to both."""
        hp = self.hparams
        self.generator = build_network(hp.generator, "generator", latent_dim=hp.latent_dim, channels=hp.channels,
                                       image_size=hp.image_size, **condition)
        self.discriminator = build_network(hp.discriminator, "discriminator", channels=hp.channels,
                                           image_size=hp.image_size, **condition)

    # the networks that checkpoints with flat network settings were built with
    legacy_networks = {"generator": "genlab.nets.dcgan.Generator", "discriminator": "genlab.nets.dcgan.Discriminator"}

    @classmethod
    def upgrade_hparams(cls, hparams: dict) -> dict:
        """Hyperparameters saved before the networks were config nodes (flat g_width, d_norm, ... all saved
        together) as today's: the DCGAN networks those models were built with, with the same settings."""
        if not any(key in hparams for key in LEGACY_SETTINGS):
            return hparams
        hparams = dict(hparams)
        networks = {net: {"_target_": target} for net, target in cls.legacy_networks.items()}
        for key, (net, setting) in LEGACY_SETTINGS.items():
            if key in hparams:
                networks[net][setting] = hparams.pop(key)
        return {**hparams, **networks}

    # ---- sampling ----------------------------------------------------------------------------------
    def sample_z(self, n: int, generator=None, truncation: float | None = None) -> torch.Tensor:
        # training draws from the global generator, for the global batch of a distributed run
        z = (torch.randn(n, self.hparams.latent_dim, generator=generator) if generator is not None
             else shard(lambda m: torch.randn(m, self.hparams.latent_dim), n))
        if truncation is not None:
            for _ in range(100):  # resample the tails; a handful of rounds suffice
                out = z.abs() > truncation
                if not out.any():
                    break
                z[out] = torch.randn(int(out.sum()), generator=generator)
            z = z.clamp(-truncation, truncation)
        return z.to(self.device, self.dtype)

    def sample_latent(self, n: int, generator=None, condition=None) -> torch.Tensor:
        return self.sample_z(n, as_generator(generator), self.hparams.truncation)

    @torch.no_grad()
    def decode_latent(self, z: torch.Tensor, condition=None) -> torch.Tensor:
        """Latents -> images with the EMA generator (the raw one when EMA is off), in eval mode."""
        net = self.generator_ema if self.hparams.ema_decay > 0 else self.generator
        was_training = net.training
        net.eval()
        images = net(z).clamp(-1, 1)
        net.train(was_training)
        return images

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None, truncation: float | None = None) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] from the EMA generator. `condition` is ignored (unconditional)."""
        self.check_num_samples(n)
        return self.decode_latent(self.sample_z(n, as_generator(generator), truncation or self.hparams.truncation))

    # ---- the networks as the losses call them (a conditional GAN passes its condition through `cond`) ----
    def _d_input(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.hparams.diffaugment) if self.hparams.diffaugment else x

    def training_condition(self, batch: dict):
        """What both networks are conditioned on for one discriminator update (None: unconditional)."""

    def fake_images(self, n: int, cond=None) -> torch.Tensor:
        return self.generator(self.sample_z(n))

    def critic(self, x: torch.Tensor, cond=None) -> torch.Tensor:
        """The discriminator's logits (B,) for images, through DiffAugment when it is on (in fp32: the
        losses are computed in fp32 under mixed precision)."""
        return self.discriminator(self._d_input(x)).float()

    def discriminator_parameters(self) -> list:
        """What the discriminator's optimizer updates."""
        return list(self.discriminator.parameters())

    # ---- losses ------------------------------------------------------------------------------------
    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, cond=None) -> tuple[torch.Tensor, dict]:
        loss_kind = self.hparams.loss
        r1 = self.hparams.r1_gamma > 0
        real = real.detach().requires_grad_(r1)
        d_real = self.critic(real, cond)
        d_fake = self.critic(fake, cond)
        if loss_kind == "nonsaturating":
            loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        elif loss_kind == "hinge":
            loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        else:
            loss = d_fake.mean() - d_real.mean() + self.hparams.gp_weight * self.gradient_penalty(real, fake, cond)
        logs = {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
        if r1:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            penalty = grad.pow(2).flatten(1).sum(1).mean()
            loss = loss + 0.5 * self.hparams.r1_gamma * penalty
            logs["r1"] = penalty.detach()
        return loss, logs

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, cond=None) -> torch.Tensor:
        alpha = shard(lambda m: torch.rand(m, 1, 1, 1, device=real.device), real.shape[0])
        mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(mixed, cond).sum(), mixed, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def generator_loss(self, fake: torch.Tensor, cond=None) -> torch.Tensor:
        d_fake = self.critic(fake, cond)
        if self.hparams.loss == "nonsaturating":
            return F.softplus(-d_fake).mean()
        return -d_fake.mean()

    # ---- training ----------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> None:
        real = batch["image"]
        n = real.shape[0]
        opt_g, opt_d = self.optimizers()

        for i in range(self.hparams.n_dis):
            last = i == self.hparams.n_dis - 1
            cond = self.training_condition(batch)
            with torch.set_grad_enabled(last):  # the last batch of fakes also serves the generator update
                fake = self.fake_images(n, cond)
            d_loss, d_logs = self.discriminator_loss(real, fake.detach(), cond)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            self.step_uncounted(opt_d)

        self.discriminator.requires_grad_(False)  # no D gradients are needed for the generator update
        g_loss = self.generator_loss(fake, cond)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()  # the one counted optimizer step of this batch
        self.discriminator.requires_grad_(True)
        self.update_ema()
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()

        # each self.log costs Lightning about 1 ms (5 % of a step here): every value once
        self.log_dict({"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach()}, prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in d_logs.items()}, batch_size=n)

    def update_ema(self) -> None:
        ema_update(self.generator_ema, self.generator, self.global_step - self.hparams.ema_start,
                   self.hparams.ema_decay)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        real = batch["image"]
        fake = self.generate(real.shape[0])
        self.log_dict({"val/d_real": self.discriminator(real).mean(),
                       "val/d_fake": self.discriminator(fake).mean()}, batch_size=real.shape[0])

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = build_optimizer(hp.optim_g, self.generator.parameters())
        opt_d = build_optimizer(hp.optim_d, self.discriminator_parameters())
        schedulers = schedulers_for(self, [opt_g, opt_d], hp.warmup_steps, hp.lr_decay)
        return ([opt_g, opt_d], schedulers) if schedulers else [opt_g, opt_d]
