"""`cdiffusion`: the diffusion model conditioned on captions or class labels, with classifier-free guidance.

The condition goes through the shared condition encoder of genlab.text (`model/text_encoder=` picks the
text encoder; labels get a label embedding of the same width) and the U-Net attends to its token states by
cross-attention (diffusers' `UNet2DConditionModel`). Caption dropout trains the null condition that
`generate.guidance_scale` contrasts with (Ho and Salimans, 2022); `generate` samples from EMA copies of the
U-Net and the encoder, averaged over the same steps.
"""

from __future__ import annotations

import torch

from genlab.errors import ConfigError
from genlab.models.diffusion import ADAMW, UNET, Diffusion
from genlab.nets.build import with_defaults
from genlab.nets.ema import ema_update
from genlab.sampling import guide
from genlab.sampling.guidance import check_guidance
from genlab.text.conditioning import Conditioned, check_condition_settings, transformer_text_encoder
from genlab.text.encoders import pad_cat

TEXT_ENCODER = transformer_text_encoder(dim=64, max_length=16)  # as conf/model/cdiffusion.yaml


class ConditionalDiffusion(Conditioned, Diffusion):
    """Args as `Diffusion`, plus condition ("caption" or "label"), text_encoder (a genlab.text encoder config;
    its `dim` is the U-Net's cross-attention width and sizes the label embedding), tokenizer (set by
    `fit_to_data`), num_classes (label mode), caption_dropout (probability of training on the null
    condition; guidance needs it above 0)."""

    averages_encoder = True

    def __init__(self, image_size: int = 32, channels: int = 3, unet: dict | None = None, train_steps: int = 1000,
                 beta_schedule: str = "squaredcos_cap_v2", prediction: str = "v_prediction", sampler: str = "dpm_solver",
                 sample_steps: int = 20, condition: str = "caption", text_encoder: dict | None = None,
                 tokenizer: dict | None = None, num_classes: int = 0, caption_dropout: float = 0.1,
                 optimizer: dict | None = None, warmup_steps: int = 0, lr_decay: str = "none",
                 ema_decay: float = 0.999, compile: bool | str = False, channels_last: bool = False,
                 min_snr_gamma: float = 0.0):
        text_encoder = dict(text_encoder or TEXT_ENCODER)
        check_condition_settings(condition, text_encoder, num_classes)
        if not 0.0 <= caption_dropout < 1.0:
            raise ConfigError(f"model.caption_dropout={caption_dropout!r} must be in [0, 1)")
        # the hyperparameters record this frame's values (Lightning reads every __init__ frame of the chain)
        unet, optimizer = with_defaults(unet, UNET), optimizer or ADAMW
        super().__init__(image_size, channels, unet, train_steps, beta_schedule, prediction, sampler, sample_steps,
                         optimizer, warmup_steps, lr_decay, ema_decay, compile, channels_last, min_snr_gamma)
        self.build_condition_encoder()

    def unet_inputs(self) -> dict:
        return {"cond_dim": self.condition_dim}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder_ema is not None:
            self.encoder_ema.eval()
        return self

    # ---- training ---------------------------------------------------------------------------------
    def condition_inputs(self, batch: dict) -> dict:
        states, pad_mask, _ = self.encode_condition(self.condition_from_batch(batch), self.hparams.caption_dropout)
        return {"states": states, "pad_mask": pad_mask}

    def update_ema(self) -> None:
        super().update_ema()
        ema_update(self.encoder_ema, self.condition_encoder, self.global_step, self.hparams.ema_decay)

    # ---- sampling ---------------------------------------------------------------------------------
    def sampling_context(self, condition, n: int, guidance_scale: float):
        """(states, pad mask, scale): with guidance, the n conditions' rows then n null-condition rows."""
        self.check_condition(condition, n)
        scale = check_guidance(guidance_scale, self.hparams.caption_dropout > 0, "cdiffusion")
        encoder = self.encoder_ema if self.hparams.ema_decay > 0 else self.fitted_encoder()
        states, pad_mask, _ = encoder(condition)
        if scale != 1:
            null_states, null_mask, _ = encoder(encoder.empty(n))
            states, pad_mask = pad_cat(states, null_states, pad_mask, null_mask)
        return states, pad_mask, scale

    def denoise(self, x: torch.Tensor, t: torch.Tensor, context) -> torch.Tensor:
        states, pad_mask, scale = context
        unet = self.sampling_unet()
        if scale == 1:
            return unet(x, t, states, pad_mask)
        return guide(*unet(torch.cat([x, x]), t, states, pad_mask).chunk(2), scale)

    def export_extra(self, folder) -> None:
        """Nothing beyond genlab's files: diffusers has no pipeline for genlab's condition encoders."""
