"""`Conditioned`: what a model conditioned on captions or labels shares (dalle, cgan, cvae).

Hyperparameters it reads: `condition` ("caption" or "label"), `text_encoder` (a config node with a
`_target_` in genlab.text; its `dim` also sizes the label embedding), `tokenizer` (the fitted tokenizer as
plain data, None until `fit_to_data`), `num_classes` (label mode: the data set's classes, set by
`fit_to_data` when 0).
"""

from __future__ import annotations

import torch

from genlab.errors import ConfigError
from genlab.nets.ema import ema_copy
from genlab.text.encoders import ConditionEncoder, Encoded, LabelEmbedder
from genlab.utils.distributed import shard


def transformer_text_encoder(**changes) -> dict:
    """conf/model/text_encoder/transformer.yaml as a dict, with a family's changes: the Python default of
    every conditional family's `text_encoder` (tests/test_config.py holds the two equal)."""
    return {"_target_": "genlab.text.TransformerTextEncoder", "tokenizer": "word", "vocab_size": 512, "dim": 128,
            "layers": 2, "heads": 4, "max_length": 32, **changes}

CONDITIONS = ("caption", "label")


def check_condition_settings(condition: str, text_encoder: dict, num_classes: int) -> None:
    from genlab.utils.trusted import check_targets

    if condition not in CONDITIONS:
        raise ConfigError(f"model.condition={condition!r} must be 'caption' or 'label'")
    if not isinstance(text_encoder, dict) or "_target_" not in text_encoder:
        raise ConfigError("model.text_encoder must be a mapping with a _target_ such as "
                          "genlab.text.TransformerTextEncoder (choose one with model/text_encoder=NAME)")
    check_targets({"text_encoder": text_encoder}, "model.text_encoder")
    if not isinstance(num_classes, int) or num_classes < 0:
        raise ConfigError(f"model.num_classes={num_classes!r} must be a whole number (0: the data set's, when fitted)")


class Conditioned:
    """Mixin placed before the family's base class: `class CGAN(Conditioned, GAN)`."""

    fitted_settings = ("tokenizer", "num_classes")
    averages_encoder = False  # keep `encoder_ema`, an EMA copy of the encoder for `generate` (dalle, cgan)
    condition_encoder: ConditionEncoder | None
    encoder_ema: ConditionEncoder | None

    def build_condition_encoder(self) -> None:
        """Build the encoder from the hyperparameters (None while a tokenizer, or the number of classes,
        still has to be fitted)."""
        from hydra.utils import get_class

        from genlab.utils.trusted import instantiate_trusted

        hp = self.hparams
        if hp.condition == "label":
            encoder = LabelEmbedder(hp.num_classes, hp.text_encoder.get("dim", 128)) if hp.num_classes else None
        elif get_class(hp.text_encoder["_target_"]).needs_tokenizer and hp.tokenizer is None:
            encoder = None
        else:
            encoder = instantiate_trusted(hp.text_encoder, "model.text_encoder", fitted=hp.tokenizer)
        self.condition_encoder = encoder
        # the frozen average that `generate` reads, kept beside the encoder (updated by the family's EMA step)
        self.encoder_ema = ema_copy(encoder) if encoder is not None and self.averages_encoder else None

    @property
    def condition_dim(self) -> int:
        return int(self.hparams.text_encoder.get("dim", 128))

    def fit_to_data(self, datamodule) -> None:
        """Fit the tokenizer on the training captions, or take the number of classes from the data set
        (once; a loaded model keeps its own)."""
        super().fit_to_data(datamodule)
        hp = self.hparams
        if hp.condition == "label":
            if not datamodule.num_classes:
                raise ConfigError(f"model.condition=label needs a data set with classes, and "
                                  f"{type(datamodule.source).__name__} has none; use model.condition=caption")
            if hp.num_classes and hp.num_classes != datamodule.num_classes:
                raise ConfigError(f"model.num_classes={hp.num_classes} but the data set has "
                                  f"{datamodule.num_classes} classes; leave model.num_classes at 0 (the data's)")
        if self.condition_encoder is not None:
            return
        from hydra.utils import get_class

        if hp.condition == "label":
            hp.num_classes = datamodule.num_classes
        else:
            settings = {k: v for k, v in hp.text_encoder.items() if k != "_target_"}
            hp.tokenizer = get_class(hp.text_encoder["_target_"]).fit_tokenizer(datamodule.captions("train"),
                                                                                 **settings)
        self.build_condition_encoder()
        self.condition_encoder.to(self.device)
        if self.encoder_ema is not None:
            self.encoder_ema.to(self.device)

    @property
    def conditions_on(self) -> str:
        return self.hparams.condition

    def fitted_encoder(self) -> ConditionEncoder:
        if self.condition_encoder is None:
            what = "number of classes is not known" if self.hparams.condition == "label" else "tokenizer is not fitted"
            raise ConfigError(f"{type(self).__name__}'s {what}: call model.fit_to_data(datamodule) before training "
                              f"or generating (genlab.train does)")
        return self.condition_encoder

    def condition_from_batch(self, batch: dict):
        return batch[self.hparams.condition]

    def condition_from_prompts(self, prompts: list[str]):
        return self.fitted_encoder().from_prompts(prompts)

    def check_condition(self, condition, n: int) -> None:
        """At generation: one condition per sample, each readable by the encoder."""
        if condition is None:
            raise ConfigError(f"this model is conditioned on {self.hparams.condition}s: pass condition= (a list "
                              f"of {n} {self.hparams.condition}s), or prompt= to genlab.sample")
        if len(condition) != n:
            raise ConfigError(f"got {len(condition)} conditions for {n} samples; give one per sample")
        self.fitted_encoder().check(condition)

    def encode_condition(self, condition, drop_prob: float = 0.0) -> Encoded:
        """The encoded condition; in training, each row is replaced by the null embedding with `drop_prob`
        (caption dropout, which classifier-free guidance needs)."""
        encoder = self.fitted_encoder()
        drop = None
        if self.training and drop_prob > 0:
            drop = shard(lambda m: torch.rand(m), len(condition)) < drop_prob
        return encoder(condition, drop)

    def empty_condition(self, n: int):
        return self.fitted_encoder().empty(n)
