"""VQ-VAE (van den Oord et al., 2017): conv encoder to a grid of vectors, EMA codebook, conv decoder.

`encode_to_indices` / `decode_from_indices` make the pair reusable as the image tokenizer of a
text-to-image transformer. Without a learned prior, `generate` samples a Gaussian fitted to recent
training encoder outputs (the whole grid as one vector), quantises it and decodes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.models.autoencoder import ADAM, AutoencoderFamily, FittedGaussian
from genlab.models.base import check_optimizer
from genlab.nets.conv import ConvDecoder, ConvEncoder, PatchEncoder
from genlab.nets.quantizer import EMAQuantizer


class VQVAE(AutoencoderFamily):
    """Args: codebook_size, code_dim, downsample (the grid is image_size / 2**downsample), commitment
    (weight of the commitment loss), ema_decay of the codebook, plus width and optimizer.
    local_codes: each code is computed from its own patch alone (nets.conv.PatchEncoder), so identical
    patches get one code wherever they lie: a uniform background is one code, instead of dozens that vary
    with position and with the rest of the image, which a prior over the codes would have to predict.
    False: a convolutional encoder whose codes see the whole image."""

    def __init__(self, image_size: int = 32, channels: int = 3, codebook_size: int = 64, code_dim: int = 16,
                 downsample: int = 2, width: int = 32, commitment: float = 0.25, ema_decay: float = 0.99,
                 local_codes: bool = False, optimizer: dict | None = None,
                 compile: bool | str = False, channels_last: bool = False):
        if image_size % (2 ** downsample):
            raise ConfigError(f"image size {image_size} is not divisible by 2**model.downsample="
                              f"{2 ** downsample}; change data.image_size or model.downsample")
        if codebook_size < 2:
            raise ConfigError(f"model.codebook_size={codebook_size} must be at least 2")
        optimizer = check_optimizer("optimizer", optimizer or ADAM)
        super().__init__(image_size, channels)
        self.save_hyperparameters()
        grid = image_size // 2 ** downsample
        # the tokenizer's shape for a model over its codes: indices are (B, *token_grid), in 0..codebook_size-1
        self.token_grid: tuple[int, int] = (grid, grid)
        self.codebook_size: int = int(codebook_size)
        self._grid = grid
        self.encoder = (PatchEncoder if local_codes else ConvEncoder)(channels, width, downsample, code_dim)
        self.decoder = ConvDecoder(channels, width, downsample, code_dim)
        self.quantizer = EMAQuantizer(codebook_size, code_dim, ema_decay)
        self.density = FittedGaussian(code_dim * grid * grid)  # over whole grids of encoder outputs

    # ---- tokenizer interface ----------------------------------------------------------------------
    def _flat(self, h: torch.Tensor) -> torch.Tensor:
        return h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])

    def _grid_of(self, flat: torch.Tensor, b: int) -> torch.Tensor:
        # contiguous: a permuted (channels-last) input would make the decoder's output channels-last too
        return flat.view(b, self._grid, self._grid, -1).permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def encode_to_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> code indices (B, h, w)."""
        h = self.encoder(x)
        return self.quantizer.indices(self._flat(h)).view(x.shape[0], self._grid, self._grid)

    @torch.no_grad()
    def decode_from_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """Code indices (B, h, w) -> images in [-1, 1]."""
        q = self.quantizer.lookup(idx.reshape(-1))
        return self.decoder(self._grid_of(q, idx.shape[0])).clamp(-1, 1)

    # ---- the autoencoder interface ----------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output before quantisation, flattened: (B, code_dim * h * w)."""
        return self.encoder(x).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        h = z.view(b, -1, self._grid, self._grid)
        q = self.quantizer.lookup(self.quantizer.indices(self._flat(h)))
        return self.decoder(self._grid_of(q, b))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x = batch["image"]
        h = self.encoder(x)
        self.remember_latents(h)
        q, _, stats = self.quantizer(self._flat(h))
        recon = self.decoder(self._grid_of(q, x.shape[0]))
        mse = F.mse_loss(recon.float(), x)  # fp32 under mixed precision
        loss = mse + self.hparams.commitment * stats["commitment"]
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])  # each log costs 1 ms: once
        self.log_dict({"train/mse": mse, "train/commitment": stats["commitment"],
                       "train/perplexity": stats["perplexity"], "train/codebook_usage": stats["usage"]},
                      batch_size=x.shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        idx = self.encode_to_indices(batch["image"]).flatten()
        usage = torch.bincount(idx, minlength=self.hparams.codebook_size).float()
        p = usage / usage.sum()
        self.log_dict({"val/perplexity": torch.exp(-(p * (p + 1e-10).log()).sum()),
                       "val/codebook_usage": (usage > 0).float().mean()}, batch_size=batch["image"].shape[0])
