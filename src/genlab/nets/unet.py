"""The denoising U-Net of `model=diffusion`: diffusers' `UNet2DModel` (unconditional) or
`UNet2DConditionModel` (cross-attention on the condition encoder's token states), sized by a few settings.

genlab keeps the network a `genlab.nets` class, so a model's config names it like any other network (and
`genlab.load` builds nothing outside genlab.nets); the diffusers model inside is what `genlab.export` hands
to a diffusers pipeline.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.errors import ConfigError


class UNet(nn.Module):
    """Args:
        channels, image_size: the images' (set by the model). cond_dim: the condition encoder's width (set
            by a conditional model; 0: unconditional).
        widths: channels per resolution, halving the resolution between levels (the image side must divide
            by 2 ** (levels - 1)).
        attention: per level, whether its blocks attend (self-attention; cross-attention on the condition
            when conditional). layers_per_block: residual blocks per level. groups: group-norm groups.
        head_dim: channels per attention head.
    """

    def __init__(self, channels: int, image_size: int, widths: tuple | list = (32, 64, 64),
                 attention: tuple | list = (False, False, True), layers_per_block: int = 1, groups: int = 8,
                 head_dim: int = 32, cond_dim: int = 0):
        super().__init__()
        widths, attention = [int(w) for w in widths], [bool(a) for a in attention]
        if not widths or len(attention) != len(widths):
            raise ConfigError(f"model.unet.attention={attention} must give one true/false per level of "
                              f"model.unet.widths={widths}")
        if any(w % groups for w in widths):
            raise ConfigError(f"model.unet.widths={widths} must all divide by model.unet.groups={groups}")
        if image_size % 2 ** (len(widths) - 1):
            raise ConfigError(f"model.unet.widths has {len(widths)} levels, which halve {len(widths) - 1} times, "
                              f"but the image side {image_size} does not divide by {2 ** (len(widths) - 1)}")
        self.cond_dim = cond_dim
        common = dict(sample_size=image_size, in_channels=channels, out_channels=channels,
                      block_out_channels=tuple(widths), layers_per_block=layers_per_block, norm_num_groups=groups)
        if cond_dim:
            from diffusers import UNet2DConditionModel

            # this class's `attention_head_dim` is the number of heads (a naming slip diffusers keeps), per level
            heads = tuple(max(1, w // head_dim) for w in widths)
            self.net = UNet2DConditionModel(
                **common, cross_attention_dim=cond_dim, attention_head_dim=heads,
                down_block_types=tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention),
                up_block_types=tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)))
        else:
            from diffusers import UNet2DModel

            self.net = UNet2DModel(
                **common, attention_head_dim=head_dim,
                down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
                up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, states: torch.Tensor | None = None,
                pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The prediction (noise, or v) for noisy images `x` at timesteps `t`; a conditional U-Net attends to
        `states` (B, T, cond_dim), skipping the positions where `pad_mask` is True."""
        if not self.cond_dim:
            return self.net(x, t).sample
        keep = None if pad_mask is None else (~pad_mask).to(x.dtype)
        return self.net(x, t, encoder_hidden_states=states, encoder_attention_mask=keep).sample
