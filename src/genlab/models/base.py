"""What every genlab model shares: the `generate` contract, checkpoint metadata, and step counting."""

from __future__ import annotations

import torch
from pytorch_lightning import LightningModule

from genlab.errors import ConfigError

CHECKPOINT_FORMAT = 1


def as_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    """Accept a torch.Generator, an int seed or None (use the global RNG)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, not {type(generator).__name__}")


def check_optimizer(name: str, cfg: dict) -> dict:
    """An optimizer config, refused unless its `_target_` (and any nested one) is on the allow-list: a
    model's hyperparameters come back from checkpoints and exports, and are instantiated when it trains."""
    from genlab.utils.trusted import check_targets

    if not isinstance(cfg, dict) or "_target_" not in cfg:
        raise ConfigError(f"model.{name} must be a mapping with a _target_ such as torch.optim.Adam")
    check_targets({name: cfg}, f"model.{name}")
    lr = cfg.get("lr")
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"model.{name}.lr={lr!r} must be a positive number")
    return dict(cfg)


def build_optimizer(cfg: dict, params):
    """An optimizer from a config checked by `check_optimizer` (checked again: hparams are mutable)."""
    from genlab.utils.trusted import instantiate_trusted

    return instantiate_trusted(cfg, "the model's optimizer config", params=params)


class GenerativeModel(LightningModule):
    """Base class of every family.

    Contract: `generate(n, condition=None, generator=None)` returns (n, C, H, W) in [-1, 1]; the same seed
    gives the same images on any device, because noise is drawn on the CPU and then moved.
    One training step consumes one batch and counts once in `global_step`, whatever the number of
    optimizer updates inside it (see `step_uncounted`).
    """

    # what a condition names: "caption" (every attribute a caption states), "label" (the class, which
    # every labelled data set keeps as its first attribute) or None (unconditional); conditional accuracy
    # reads it to know which attributes to check
    conditions_on: str | None = None
    # the hyperparameters holding the optimizer configs, in the order configure_optimizers returns them
    optimizer_settings: tuple[str, ...] = ()
    main_loss = "train/loss"  # the logged loss that training must lower (the test harness checks it)
    # hyperparameters that `fit_to_data` sets from the data (a fitted tokenizer, a stage-1 model's record):
    # a resumed run takes them from its checkpoint instead of fitting again
    fitted_settings: tuple[str, ...] = ()
    # whether a training step may leave some trained parameters without a gradient (a GAN's generator in
    # the discriminator update): DDP then has to look for them every step (find_unused_parameters)
    ddp_unused_parameters = False

    def __init__(self, image_size: int, channels: int):
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ConfigError(f"model.channels={channels!r} must be a positive integer")
        self.image_size, self.channels = image_size, channels

    def save_hyperparameters(self, *args, **kwargs) -> None:
        """Lightning's, then the settings checked against genlab.utils.schema.MODEL (one place for every
        family, whether the values come from a config, a notebook or a checkpoint)."""
        import inspect

        from genlab.utils.schema import MODEL, check

        kwargs.setdefault("frame", inspect.currentframe().f_back)
        super().save_hyperparameters(*args, **kwargs)
        check(dict(self.hparams), MODEL, prefix="model.")

    @classmethod
    def upgrade_hparams(cls, hparams: dict) -> dict:
        """Hyperparameters saved by an earlier genlab, as this version's constructor takes them (checkpoints,
        exports and saved run configs pass through here before the model is built)."""
        return hparams

    # ---- the shared interface --------------------------------------------------------------------
    def fit_to_data(self, datamodule) -> None:
        """Fit what depends on the data set before a fresh fit (a tokenizer on the training captions, a
        stage-1 model checked against the data). Entry points call it; in a notebook call it before
        `trainer.fit`. A model built from a checkpoint has these already and keeps them."""

    @property
    def conditional(self) -> bool:
        """Whether `generate` uses `condition`."""
        return self.conditions_on is not None

    @torch.no_grad()
    def generate(self, n: int, condition=None, generator: torch.Generator | int | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement generate (the shared contract)")

    def condition_from_batch(self, batch: dict):
        """What `generate` takes as `condition` for the examples of a batch (None: unconditional)."""

    def condition_from_prompts(self, prompts: list[str]):
        """What `generate` takes as `condition` for prompts given on the command line."""
        return prompts

    def check_num_samples(self, n: int) -> None:
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"num_samples={n!r} must be a positive integer")

    # ---- training mechanics ----------------------------------------------------------------------
    def step_uncounted(self, optimizer) -> None:
        """Step an optimizer without advancing `global_step`.

        In manual optimisation Lightning counts every `LightningOptimizer.step()`; genlab counts batches, so
        auxiliary updates (a GAN's discriminator) go through the strategy directly. Precision plugins and
        `on_before_optimizer_step` hooks still run.
        """
        raw = getattr(optimizer, "optimizer", optimizer)
        self.trainer.strategy.optimizer_step(raw, closure=lambda: None)

    def on_train_start(self) -> None:
        """On resume Lightning restores the optimizers' saved settings; settings changed in the config
        since (a lower learning rate, say) take effect here, from the resumed step on."""
        apply_optimizer_settings(self)

    # ---- speed options (every family's `compile` and `channels_last` settings) -----------------------
    def configure_model(self) -> None:
        """Lightning's hook before fitting.

        `channels_last`: the memory format of convolutional weights (a convolution then computes in it, and
        passes it on, whatever its input's layout). `compile`: torch.compile every trained network (True:
        the default backend, a string: that backend), in place, so that the state dict's names are the
        plain model's and checkpoints load anywhere."""
        if self.hparams.get("channels_last"):
            self.to(memory_format=torch.channels_last)
        backend = self.hparams.get("compile")
        if backend and not getattr(self, "_compiled", False):
            from torch._dynamo import list_backends

            backend = "inductor" if backend is True else backend
            if backend not in list_backends(exclude_tags=()):
                raise ConfigError(f"model.compile={backend!r} is not a torch.compile backend; use true (inductor), "
                                  f"aot_eager or eager")
            for net in self.children():
                if any(p.requires_grad for p in net.parameters()):
                    net.compile(backend=backend)
            self._compiled = True

    def export_extra(self, folder) -> None:
        """Files `genlab.export` writes into `folder` beside genlab's own, for other tools to read."""

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        from genlab import __version__

        cls = type(self)
        checkpoint["genlab"] = {"format_version": CHECKPOINT_FORMAT, "version": __version__,
                                "class": f"{cls.__module__}.{cls.__qualname__}"}


def apply_optimizer_settings(model: GenerativeModel) -> dict[str, tuple]:
    """Make each optimizer's param groups (and its scheduler's base rates) follow the model's optimizer
    configs; returns {"optim_g.lr": (old, new), ...} for what changed."""
    import logging

    trainer = model.trainer
    schedulers = {id(c.scheduler.optimizer): c.scheduler for c in trainer.lr_scheduler_configs}
    changed = {}
    for name, optimizer in zip(model.optimizer_settings, trainer.optimizers):
        cfg = model.hparams.get(name) or {}
        scheduler = schedulers.get(id(optimizer))
        for i, group in enumerate(optimizer.param_groups):
            for key, value in cfg.items():
                if key.startswith("_") or key not in group:
                    continue
                value = tuple(value) if isinstance(group[key], tuple) else value
                current = scheduler.base_lrs[i] if key == "lr" and scheduler is not None else group[key]
                if current == value:
                    continue
                changed[f"{name}.{key}"] = (current, value)
                if key == "lr" and scheduler is not None:
                    scale = group["lr"] / current if current else 1.0
                    scheduler.base_lrs[i] = group["initial_lr"] = value
                    group["lr"] = value * scale
                else:
                    group[key] = value
    for key, (old, new) in changed.items():
        logging.getLogger("genlab").info("model.%s is %r from step %d on (was %r)", key, new, trainer.global_step, old)
    return changed
