"""`diffusion`: a denoising diffusion model (Ho et al., 2020) on diffusers' U-Net and noise schedulers.

Training: a random timestep t per image, the image noised to x_t by the training scheduler (DDPM's forward
process), and the U-Net trained to predict v (Salimans and Ho, 2022; or the noise) with a mean squared
error. Sampling: any diffusers scheduler of `SAMPLERS`, chosen when generating (`generate.sampler=ddim
generate.steps=50`), built from the training scheduler's configuration so that it denoises the same
process; from the EMA weights. The same seed gives the same images: the starting noise and every
sampler's noise are drawn on the CPU.

genlab writes the training step, the conditioning (cdiffusion.py) and the glue; the U-Net
(`genlab.nets.unet`) and the schedulers are diffusers'. `genlab.export` also writes the folder a diffusers
pipeline loads (`DDPMPipeline.from_pretrained(folder)`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.models.base import GenerativeModel, as_generator, build_optimizer, check_optimizer
from genlab.nets.build import build_network, with_defaults
from genlab.nets.ema import ema_copy, ema_update
from genlab.utils.distributed import shard
from genlab.utils.lr_schedule import schedulers_for, warmup_decay

ADAMW = {"_target_": "torch.optim.AdamW", "lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.0}
UNET = {"_target_": "genlab.nets.unet.UNet", "widths": [32, 64, 64], "attention": [False, False, True],
        "layers_per_block": 1, "groups": 8, "head_dim": 32}  # as conf/model/unet/small.yaml
# generate's `sampler` names and the diffusers scheduler each builds (DPM-Solver++ 2M for dpm_solver)
SAMPLERS = {"ddpm": "DDPMScheduler", "ddim": "DDIMScheduler", "dpm_solver": "DPMSolverMultistepScheduler"}
PREDICTIONS = ("epsilon", "v_prediction")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


class Diffusion(GenerativeModel):
    """An unconditional diffusion model.

    Args:
        image_size, channels: set by the data config.
        unet: the denoising network as a config node (`genlab.nets.unet.UNet` and its widths, attention,
            layers_per_block); a node without a `_target_` changes settings of the default.
        train_steps: the diffusion process's number of timesteps. beta_schedule: its noise schedule
            ("squaredcos_cap_v2" is the cosine schedule of Nichol and Dhariwal, 2021). prediction: what the
            U-Net predicts, "epsilon" (the noise) or "v_prediction". min_snr_gamma: the loss weighting of
            Min-SNR-gamma (Hang et al., 2023) with this cap (5 in the paper); 0 weighs every timestep alike.
        sampler, sample_steps: `generate`'s defaults (a name of SAMPLERS; its number of denoising steps).
        optimizer, warmup_steps, lr_decay: training. ema_decay: EMA of the U-Net used by `generate` (0: off).
    """

    optimizer_settings = ("optimizer",)

    def __init__(self, image_size: int = 32, channels: int = 3, unet: dict | None = None, train_steps: int = 1000,
                 beta_schedule: str = "squaredcos_cap_v2", prediction: str = "v_prediction", sampler: str = "dpm_solver",
                 sample_steps: int = 20, optimizer: dict | None = None, warmup_steps: int = 0,
                 lr_decay: str = "none", ema_decay: float = 0.999,
                 compile: bool | str = False, channels_last: bool = False, min_snr_gamma: float = 0.0):
        super().__init__(image_size, channels)
        unet = with_defaults(unet, UNET)
        if beta_schedule not in BETA_SCHEDULES:
            raise ConfigError(f"model.beta_schedule={beta_schedule!r} must be one of {', '.join(BETA_SCHEDULES)}")
        if prediction not in PREDICTIONS:
            raise ConfigError(f"model.prediction={prediction!r} must be 'epsilon' or 'v_prediction'")
        optimizer = check_optimizer("optimizer", optimizer or ADAMW)
        warmup_decay(warmup_steps, lr_decay, None)
        self.save_hyperparameters()  # checks train_steps and ema_decay (genlab.utils.schema)
        check_sampler(sampler, sample_steps, train_steps, where="model")
        self.build_networks()

    # ---- building ---------------------------------------------------------------------------------
    def unet_inputs(self) -> dict:
        """What the model passes to its U-Net besides the image sizes (a conditional model: cond_dim)."""
        return {}

    def build_networks(self) -> None:
        hp = self.hparams
        self.unet = build_network(hp.unet, "unet", channels=hp.channels, image_size=hp.image_size,
                                  **self.unet_inputs())
        self.unet_ema = ema_copy(self.unet)
        self.noise_schedule = self.scheduler("DDPMScheduler")

    def scheduler(self, name: str):
        """A diffusers scheduler of the training process (its timesteps, noise schedule and prediction)."""
        import diffusers

        hp = self.hparams
        # DDPM and DDIM clip their estimate of the clean image to the images' range [-1, 1] by default;
        # DPM-Solver++ does so through thresholding, off by default: without it, it sampled far worse
        # (judge FID 872 against DDIM's 288 at 20 steps, docs/models.md)
        clip = {"thresholding": True, "sample_max_value": 1.0} if name == "DPMSolverMultistepScheduler" else {}
        return getattr(diffusers, name)(num_train_timesteps=hp.train_steps, beta_schedule=hp.beta_schedule,
                                        prediction_type=hp.prediction, **clip)

    def train(self, mode: bool = True):
        super().train(mode)
        self.unet_ema.eval()
        return self

    # ---- training ---------------------------------------------------------------------------------
    def condition_inputs(self, batch: dict) -> dict:
        """The U-Net's condition for a training batch (caption dropout applied): none here."""
        return {}

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        x0 = batch["image"]
        n, shape = x0.shape[0], x0.shape[1:]
        # drawn for the global batch on the CPU (docs/scaling.md): N processes train as one does
        noise = shard(lambda m: torch.randn(m, *shape, generator=generator), n).to(x0)
        t = shard(lambda m: torch.randint(0, self.hparams.train_steps, (m,), generator=generator), n).to(x0.device)
        schedule = self.noise_schedule
        noisy = schedule.add_noise(x0, noise, t)
        epsilon = self.hparams.prediction == "epsilon"
        target = noise if epsilon else schedule.get_velocity(x0, noise, t)
        prediction = self.unet(noisy, t, **self.condition_inputs(batch))
        errors = F.mse_loss(prediction.float(), target.float(), reduction="none").flatten(1).mean(1)  # fp32 under bf16
        gamma = self.hparams.min_snr_gamma
        if gamma:
            # Min-SNR-gamma (Hang et al., 2023) weighs the clean image's error by min(SNR, gamma), so that nearly
            # clean timesteps stop dominating the gradient; in this target's units that is min(SNR, gamma) / SNR
            # for the noise (written so that SNR 0 gives 1) and min(SNR, gamma) / (SNR + 1) for v. The SNR is
            # read off the schedule here: diffusers' compute_snr (the test's reference) costs seconds of imports
            signal = schedule.alphas_cumprod.to(x0.device)[t].float()
            snr = signal / (1 - signal)
            errors = errors * ((gamma / snr).clamp(max=1) if epsilon else snr.clamp(max=gamma) / (snr + 1))
        return errors.mean()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["image"].shape[0])
        return loss

    def optimizer_step(self, *args, **kwargs) -> None:
        # here, not in on_train_batch_end: the checkpoint of this step (a callback's batch-end hook, which
        # runs before the module's) must hold the average updated by it
        super().optimizer_step(*args, **kwargs)
        self.update_ema()

    def update_ema(self) -> None:
        ema_update(self.unet_ema, self.unet, self.global_step, self.hparams.ema_decay)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # the same noise and timesteps at every validation, so the curve shows the model, not the draw
        loss = self.loss(batch, torch.Generator().manual_seed(batch_idx))
        self.log("val/loss", loss, batch_size=batch["image"].shape[0])

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = build_optimizer(self.hparams.optimizer, params)
        schedulers = schedulers_for(self, [optimizer], self.hparams.warmup_steps, self.hparams.lr_decay)
        return ([optimizer], schedulers) if schedulers else optimizer

    # ---- sampling ---------------------------------------------------------------------------------
    def sampling_scheduler(self, sampler: str | None, steps: int | None):
        """The diffusers scheduler that `generate` denoises with, its timesteps set."""
        hp = self.hparams
        sampler, steps = sampler or hp.sampler, hp.sample_steps if steps is None else steps
        check_sampler(sampler, steps, hp.train_steps)
        scheduler = self.scheduler(SAMPLERS[sampler])
        scheduler.set_timesteps(steps)
        return scheduler

    def sampling_context(self, condition, n: int, guidance_scale: float):
        """What `denoise` needs besides the image and timestep (a conditional model: the encoded condition)."""
        if guidance_scale != 1:
            raise ConfigError("generate.guidance_scale needs a conditional model (model=cdiffusion trained with "
                              "caption dropout); this one is unconditional: use guidance_scale=1")

    def denoise(self, x: torch.Tensor, t: torch.Tensor, context) -> torch.Tensor:
        """The sampling network's prediction for x at timestep t."""
        return self.sampling_unet()(x, t)

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None, sampler: str | None = None, steps: int | None = None,
                 guidance_scale: float = 1.0) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1]: `steps` denoising steps of `sampler` (the model's defaults: its
        `sampler` and `sample_steps`) from Gaussian noise."""
        self.check_num_samples(n)
        scheduler = self.sampling_scheduler(sampler, steps)
        context = self.sampling_context(condition, n, guidance_scale)
        generator = as_generator(generator)
        hp = self.hparams
        x = torch.randn((n, hp.channels, hp.image_size, hp.image_size), generator=generator).to(self.device)
        for t in scheduler.timesteps:
            x = scheduler.step(self.denoise(x, t.to(self.device), context), t, x, generator=generator).prev_sample
        return x.clamp(-1, 1)

    # ---- export -----------------------------------------------------------------------------------
    def export_extra(self, folder: Path) -> None:
        """Beside genlab's files: `model_index.json`, `unet/` and `scheduler/`, which diffusers'
        `DDPMPipeline.from_pretrained(folder)` loads (the EMA U-Net and the training scheduler)."""
        from diffusers import DDPMPipeline

        DDPMPipeline(unet=self.sampling_unet().net, scheduler=self.scheduler("DDPMScheduler")).save_pretrained(folder)

    def sampling_unet(self):
        return self.unet_ema if self.hparams.ema_decay > 0 else self.unet


def check_sampler(sampler, steps, train_steps: int, where: str = "generate") -> None:
    """A sampler name of SAMPLERS and a number of steps from 1 to the training steps, or one sentence."""
    names = ("sampler", "steps") if where == "generate" else ("sampler", "sample_steps")
    if sampler not in SAMPLERS:
        raise ConfigError(f"{where}.{names[0]}={sampler!r} is not a diffusion sampler; use one of "
                          f"{', '.join(SAMPLERS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= train_steps:
        raise ConfigError(f"{where}.{names[1]}={steps!r} must be a whole number from 1 to {train_steps}, the "
                          f"steps the model was trained with")
