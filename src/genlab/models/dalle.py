"""`dalle`: a DALL-E-style text-to-image model (Ramesh et al., 2021) at research scale.

Stage 1 is a trained VQ-VAE: images to a grid of codebook indices and back. Stage 2, this model, is a
decoder-only transformer over [condition; BOS; image tokens], trained with next-token loss on the image
tokens. Captions (or labels) go through the shared condition encoder (genlab.text); caption dropout
trains the null condition that classifier-free guidance contrasts with. `generate` samples tokens with
the shared autoregressive loop (temperature, top-k, top-p, key/value cache) from EMA weights and decodes
them with the frozen VQ-VAE.

The VQ-VAE is a frozen submodule and its class and hyperparameters are recorded (`stage1`), so a stage-2
checkpoint is complete on its own; `tokenizer_ckpt` is read only when a fresh fit starts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.models.base import GenerativeModel, as_generator, build_optimizer, check_optimizer
from genlab.nets.ema import ema_copy, ema_update
from genlab.nets.transformer import ImageTokenTransformer, KVCache
from genlab.sampling import check_sampling_options, guide, sample_sequence
from genlab.sampling.guidance import check_guidance
from genlab.text.conditioning import Conditioned, check_condition_settings, transformer_text_encoder
from genlab.text.encoders import pad_cat
from genlab.utils.lr_schedule import schedulers_for, warmup_decay

ADAMW = {"_target_": "torch.optim.AdamW", "lr": 1e-3, "betas": [0.9, 0.95], "weight_decay": 0.01}
TEXT_ENCODER = transformer_text_encoder(max_length=16)  # captions of shapes are short
VQVAE_CLASS = "genlab.models.vqvae.VQVAE"


class DALLE(Conditioned, GenerativeModel):
    """Args:
        image_size, channels, num_classes: from the data config.
        tokenizer_ckpt: a trained VQ-VAE checkpoint (stage 1), read when a fresh fit starts.
        stage1: the recorded VQ-VAE ({"class", "hyper_parameters"}); set by fitting, kept in checkpoints.
        condition: "caption" or "label". text_encoder: a genlab.text encoder config. tokenizer: its fitted
            tokenizer (set by fitting). caption_dropout: probability of training on the null condition.
        dim, layers, heads, dropout: the transformer.
        optimizer, warmup_steps, lr_decay: training. ema_decay: EMA of the transformer and text encoder used
            by `generate` (0 = off).
    """

    optimizer_settings = ("optimizer",)
    fitted_settings = ("tokenizer", "stage1")
    averages_encoder = True

    def __init__(self, image_size: int = 32, channels: int = 3, tokenizer_ckpt: str | None = None,
                 stage1: dict | None = None, condition: str = "caption", text_encoder: dict | None = None,
                 tokenizer: dict | None = None, num_classes: int = 0, caption_dropout: float = 0.1,
                 dim: int = 128, layers: int = 4, heads: int = 4, dropout: float = 0.0,
                 optimizer: dict | None = None, warmup_steps: int = 100, lr_decay: str = "cosine",
                 ema_decay: float = 0.995,
                 compile: bool | str = False, channels_last: bool = False):
        super().__init__(image_size, channels)
        text_encoder = dict(text_encoder or TEXT_ENCODER)
        check_condition_settings(condition, text_encoder, num_classes)
        if stage1 is None and not tokenizer_ckpt:
            raise ConfigError("model=dalle needs a trained VQ-VAE as its image tokenizer: give "
                              "model.tokenizer_ckpt=PATH/TO/vqvae.ckpt, or run experiment=dalle_shapes, which "
                              "trains one first")
        if not 0.0 <= caption_dropout < 1.0:
            raise ConfigError(f"model.caption_dropout={caption_dropout!r} must be in [0, 1)")
        if dim % heads:
            raise ConfigError(f"model.dim={dim} must be divisible by model.heads={heads}")
        optimizer = check_optimizer("optimizer", optimizer or ADAMW)
        warmup_decay(warmup_steps, lr_decay, None)
        self.save_hyperparameters()
        self.build_condition_encoder()
        self.vqvae = self.prior = self.prior_ema = None
        if stage1 is not None:
            self.build_stage2()

    # ---- building ---------------------------------------------------------------------------------
    @property
    def text_length(self) -> int:
        return int(self.hparams.text_encoder.get("max_length", 32)) if self.hparams.condition == "caption" else 1

    def build_stage2(self) -> None:
        from genlab.load import model_class

        hp, record = self.hparams, self.hparams.stage1
        if not isinstance(record, dict) or record.get("class") != VQVAE_CLASS:
            raise ConfigError(f"model.stage1 must record a {VQVAE_CLASS} (it names {record!r})")
        self.vqvae = model_class(record["class"])(**record["hyper_parameters"]).requires_grad_(False).eval()
        self.prior = ImageTokenTransformer(self.condition_dim, self.text_length, self.vqvae.token_grid,
                                           self.vqvae.codebook_size, hp.dim, hp.layers, hp.heads, hp.dropout)
        self.prior_ema = ema_copy(self.prior)

    def fit_to_data(self, datamodule) -> None:
        """Fit the text tokenizer and read the stage-1 VQ-VAE from `tokenizer_ckpt`, checked against the data."""
        super().fit_to_data(datamodule)
        if self.vqvae is None:
            vqvae = load_stage1(self.hparams.tokenizer_ckpt, datamodule.image_size, datamodule.channels)
            self.hparams.stage1 = {"class": VQVAE_CLASS, "hyper_parameters": dict(vqvae.hparams)}
            self.build_stage2()
            self.vqvae.load_state_dict(vqvae.state_dict())
            self.to(self.device)

    def train(self, mode: bool = True):
        super().train(mode)
        for frozen in (self.vqvae, self.prior_ema, self.encoder_ema):
            if frozen is not None:
                frozen.eval()
        return self

    def ready(self) -> None:
        if self.prior is None or self.encoder_ema is None:
            raise ConfigError("this dalle model has no stage-1 VQ-VAE or tokenizer yet: call "
                              "model.fit_to_data(datamodule) before training (genlab.train does)")

    # ---- training ---------------------------------------------------------------------------------
    def loss(self, batch: dict) -> torch.Tensor:
        self.ready()
        tokens = self.vqvae.encode_to_indices(batch["image"]).flatten(1)
        states, pad_mask, _ = self.encode_condition(self.condition_from_batch(batch), self.hparams.caption_dropout)
        logits = self.prior(states, pad_mask, tokens)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens.reshape(-1))  # fp32 under bf16

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        n = batch["image"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        return loss

    def optimizer_step(self, *args, **kwargs) -> None:
        # here, not in on_train_batch_end: callbacks' batch-end hooks (the checkpoint of this step) run
        # before the module's, so an average updated there would be missing from that checkpoint
        super().optimizer_step(*args, **kwargs)
        step, decay = self.global_step, self.hparams.ema_decay
        ema_update(self.prior_ema, self.prior, step, decay)
        ema_update(self.encoder_ema, self.condition_encoder, step, decay)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.log("val/loss", self.loss(batch), batch_size=batch["image"].shape[0])

    def configure_optimizers(self):
        self.ready()
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = build_optimizer(self.hparams.optimizer, params)
        schedulers = schedulers_for(self, [optimizer], self.hparams.warmup_steps, self.hparams.lr_decay)
        return ([optimizer], schedulers) if schedulers else optimizer

    # ---- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, n: int, condition=None, generator=None, guidance_scale: float = 1.0,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 use_cache: bool = True) -> torch.Tensor:
        """n images (n, C, H, W) in [-1, 1] for `condition` (n captions, or n labels)."""
        self.check_num_samples(n)
        self.ready()
        self.check_condition(condition, n)
        check_sampling_options(temperature, top_k, top_p, self.vqvae.codebook_size)
        scale = check_guidance(guidance_scale, self.hparams.caption_dropout > 0, "dalle")
        tokens = self.sample_tokens(condition, as_generator(generator), scale, temperature, top_k, top_p, use_cache)
        return self.vqvae.decode_from_indices(tokens.view(n, *self.vqvae.token_grid))

    def sample_tokens(self, condition, generator, scale: float, temperature: float, top_k, top_p,
                      use_cache: bool) -> torch.Tensor:
        ema = self.hparams.ema_decay > 0
        encoder, prior = (self.encoder_ema, self.prior_ema) if ema else (self.condition_encoder, self.prior)
        n, guided = len(condition), scale != 1
        states, pad_mask, _ = encoder(condition)
        if guided:  # conditional rows first, then the same number of null-condition rows
            null_states, null_mask, _ = encoder(encoder.empty(n))
            states, pad_mask = pad_cat(states, null_states, pad_mask, null_mask)

        def combine(logits: torch.Tensor) -> torch.Tensor:
            return guide(*logits.chunk(2), scale) if guided else logits

        cache = KVCache(prior.layers) if use_cache else None
        seen: list[torch.Tensor] = []

        def step(token: torch.Tensor, i: int) -> torch.Tensor:
            token = token.repeat(2) if guided else token
            if cache is not None:
                return combine(prior.step(token, i, cache))
            seen.append(token)
            tokens = torch.stack([*seen, token], 1)  # the last column is a placeholder the model never reads
            return combine(prior(states, pad_mask, tokens)[:, -1])

        return sample_sequence(lambda: combine(prior.start(states, pad_mask, cache)), step, prior.num_tokens,
                               generator, temperature, top_k, top_p)


def load_stage1(path, image_size: int, channels: int):
    """The VQ-VAE of `model.tokenizer_ckpt`, refused (one sentence) if it is not one or does not fit the data."""
    from pathlib import Path

    from genlab.load import load
    from genlab.models.vqvae import VQVAE

    if not path or not Path(str(path)).exists():
        raise ConfigError(f"model.tokenizer_ckpt={path} does not exist; give the VQ-VAE checkpoint of stage 1 "
                          f"(RUN/checkpoints/last.ckpt of a model=vqvae run)")
    vqvae = load(path)
    if not isinstance(vqvae, VQVAE):
        raise ConfigError(f"model.tokenizer_ckpt={path} holds a {type(vqvae).__name__}, not a VQ-VAE; give the "
                          f"checkpoint of a model=vqvae run")
    if (vqvae.image_size, vqvae.channels) != (image_size, channels):
        raise ConfigError(f"model.tokenizer_ckpt={path} is a VQ-VAE for {vqvae.image_size}x{vqvae.image_size} "
                          f"images with {vqvae.channels} channel(s), but the data is {image_size}x{image_size} with "
                          f"{channels}; train stage 1 on the same data settings")
    return vqvae
