"""Every option of every config group composes and instantiates (not only composes)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
from conftest import options
from omegaconf import OmegaConf
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import Logger

from genlab.data import GenDataModule
from genlab.errors import DataUnavailableError
from genlab.models.base import GenerativeModel
from genlab.utils.config import make

ROOT = Path(__file__).resolve().parents[1]


def test_every_group_has_options():
    for group in ["model", "data", "trainer", "logger", "callbacks", "paths", "experiment", "hparams_search"]:
        assert options(group), group


@pytest.mark.parametrize("name", options("model"))
def test_model_options(make_cfg, name):
    cfg = make_cfg([f"model={name}"])
    if "tokenizer_ckpt" in cfg.model:  # a two-stage model is built before its stage-1 file is read
        cfg = make_cfg([f"model={name}", "model.tokenizer_ckpt=stage1.ckpt"])
    model = make(cfg.model)
    assert isinstance(model, GenerativeModel)
    assert model.image_size == cfg.data.image_size and model.channels == cfg.data.channels
    # saved hyperparameters are plain containers (weights_only checkpoints depend on it)
    for value in model.hparams.values():
        assert type(value) in (int, float, str, bool, list, dict, type(None)), (type(value), value)


@pytest.mark.parametrize("name", options("data"))
def test_data_options(make_cfg, tmp_path, name):
    extra = {"folder": [f"data.root={ROOT / 'tests' / 'assets' / 'folder'}"]}.get(name, [])
    cfg = make_cfg([f"data={name}", f"paths.data_dir={tmp_path / 'empty'}", *extra])
    dm = make(cfg.data)
    assert isinstance(dm, GenDataModule) and dm.batch_size == 16
    if name in ("mnist", "fashion_mnist", "cifar10", "celeba"):
        # no files here and no network in tests: the download is not attempted, the message is one sentence
        dm.source.download = False
        with pytest.raises(DataUnavailableError, match=str(tmp_path / "empty")):
            dm.prepare_data()
        return
    batch = dm.sample_batch("train", 4)
    assert batch["image"].shape == (4, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_options(make_cfg, name):
    cfg = make_cfg([f"trainer={name}"], tiny=False)
    if OmegaConf.select(cfg, "trainer.accelerator") == "gpu" and not torch.cuda.is_available():
        with pytest.raises(Exception, match="(?i)gpu|cuda"):
            make(cfg.trainer)
        return
    trainer = make(cfg.trainer, logger=False)
    assert isinstance(trainer, Trainer) and trainer.max_steps == cfg.trainer.max_steps
    assert trainer.default_root_dir == cfg.paths.output_dir


@pytest.mark.parametrize("name", options("logger"))
def test_logger_options(make_cfg, name, tmp_path):
    cfg = make_cfg([f"logger={name}"])
    if "_target_" not in (cfg.logger or {}):
        assert name == "none"
        return
    logger = make(cfg.logger)
    assert isinstance(logger, Logger)
    assert str(tmp_path / "run") in str(logger.save_dir)


@pytest.mark.parametrize("name", options("callbacks"))
def test_callback_options(make_cfg, name):
    cfg = make_cfg([f"callbacks={name}"])
    built = [make(c) for c in cfg.callbacks.values() if c is not None]
    assert built and all(hasattr(c, "state_dict") for c in built)
    assert any(type(c).__name__ == "Checkpoint" for c in built)


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_options(make_cfg, name):
    cfg = make_cfg([f"experiment={name}"])
    if cfg.get("stage1") is not None:  # two stages: stage 1 fits the data, and stage 2 reads its checkpoint
        stage1, dm = make(cfg.stage1.model), make(cfg.data)
        assert stage1.channels == dm.channels and stage1.image_size == dm.image_size
        assert cfg.stage1.max_steps > 0 and cfg.model.tokenizer_ckpt is None
        cfg.model.tokenizer_ckpt = "RUN/stage1/checkpoints/last.ckpt"  # what genlab.train sets
    model, dm = make(cfg.model), make(cfg.data)
    assert model.channels == dm.channels and model.image_size == dm.image_size


@pytest.mark.parametrize("name", options("hparams_search"))
def test_hparams_search_options(make_cfg, name):
    cfg = make_cfg([f"hparams_search={name}"])
    assert cfg.optimized_metric == "metrics/judge_fid"
    assert cfg.callbacks.judge_fid.judge is None  # the objective is logged by this callback, with the data's judge


def test_hparams_search_sweeper_plugin_is_installed():
    module = importlib.import_module("hydra_plugins.hydra_optuna_sweeper.optuna_sweeper")
    assert hasattr(module, "OptunaSweeper")


def test_paths_default_is_a_dated_folder():
    import re

    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train")
    GlobalHydra.instance().clear()
    assert re.fullmatch(r"outputs/\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}", cfg.paths.output_dir)
    assert cfg.trainer.default_root_dir == cfg.paths.output_dir


# each family's own config (beta_vae and dcgan are presets of VAE and GAN with other values)
OWN_CONFIG = ["ae", "vae", "vqvae", "cvae", "gan", "cgan", "dalle", "diffusion", "cdiffusion", "flow"]


@pytest.mark.parametrize("name", OWN_CONFIG)
def test_a_model_built_in_python_has_its_config_defaults(name):
    """`GAN()` in a notebook behaves like `model=gan`: every hyperparameter the same both ways."""
    import inspect

    from genlab.utils.config import compose_train

    stage1 = {"tokenizer_ckpt": "stage1.ckpt"} if name == "dalle" else {}  # read when fitting, not when built
    cfg = compose_train(f"model={name}", *(f"model.{k}={v}" for k, v in stage1.items()))
    from_config = make(cfg.model)
    cls = type(from_config)
    data = {"image_size": cfg.data.image_size, "channels": cfg.data.channels, **stage1}
    from_python = cls(**{k: v for k, v in data.items() if k in inspect.signature(cls).parameters})
    assert dict(from_python.hparams) == dict(from_config.hparams)
