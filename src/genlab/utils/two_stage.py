"""Two-stage runs (`stage1:` in the config, as experiment=dalle_shapes sets): one command trains stage 1
(a VQ-VAE) into RUN/stage1/ as an ordinary run, then the configured model into RUN/, with
`model.tokenizer_ckpt` pointing at stage 1's last checkpoint. Either stage resumes with `ckpt_path=last`:
a finished stage 1 is not trained again, an unfinished one resumes from its own checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError

STAGE1_DIR = "stage1"


def is_two_stage(cfg) -> bool:
    return cfg.get("stage1") is not None


def stage2_not_started(cfg: DictConfig, out: Path) -> bool:
    """`ckpt_path=last` on a two-stage run stopped before stage 2 wrote its first checkpoint."""
    from genlab.utils.resume_config import saved_config

    if cfg.get("ckpt_path") != "last" or (out / "checkpoints" / "last.ckpt").exists():
        return False
    return (out / "config.yaml").is_file() and saved_config(out).get("stage1") is not None


def stage1_config(cfg: DictConfig, out: Path) -> DictConfig:
    """Stage 1's own run config: its saved one when it has started, else derived from this run's config
    (its model and step budget, every path under RUN moved under RUN/stage1)."""
    from genlab.utils.resume_config import _reroot, saved_config

    folder = out / STAGE1_DIR
    if (folder / "config.yaml").is_file():
        s1 = OmegaConf.create(saved_config(folder))
        s1.trainer.max_steps = cfg.stage1.max_steps  # may grow, as trainer.max_steps may
    else:
        if not isinstance(cfg.stage1.get("model"), DictConfig) or "max_steps" not in cfg.stage1:
            raise ConfigError("stage1 must hold model: (the stage-1 model config) and max_steps:")
        full = OmegaConf.to_container(cfg, resolve=True)
        stage1 = full.pop("stage1")
        full["model"], full["optimized_metric"] = stage1["model"], None
        full["trainer"]["max_steps"] = stage1["max_steps"]
        full = _reroot(full, str(cfg.paths.output_dir), str(folder))
        full["paths"]["output_dir"] = str(folder)
        s1 = OmegaConf.create(full)
    s1.ckpt_path = "last" if (folder / "checkpoints" / "last.ckpt").exists() else None
    return s1


def stage1_step(folder: Path) -> int:
    from genlab.load import read_checkpoint

    last = folder / "checkpoints" / "last.ckpt"
    return int(read_checkpoint(last).get("global_step", 0)) if last.exists() else 0


def finished(s1: DictConfig, folder: Path) -> bool:
    return stage1_step(folder) >= int(s1.trainer.max_steps)


def run_stage1(cfg: DictConfig, out: Path, train: Callable, log) -> DictConfig:
    """Train (or resume, or skip when finished) stage 1; returns the stage-2 config pointing at it."""
    folder = out / STAGE1_DIR
    s1 = stage1_config(cfg, out)
    if (out / "checkpoints" / "last.ckpt").exists() and not finished(s1, folder):
        raise ConfigError(f"stage 2 has started from stage 1's checkpoint at step {stage1_step(folder)}, so "
                          f"stage1.max_steps={s1.trainer.max_steps} cannot change now; resume without it, or "
                          f"start a new run in another paths.output_dir")
    if finished(s1, folder):
        log.info("stage 1 finished earlier: %s", folder / "checkpoints" / "last.ckpt")
    else:
        print(f"genlab: stage 1 ({s1.model._target_.rsplit('.', 1)[-1]}) in {folder.resolve()}", flush=True)
        train(s1, overrides=None)
        if not finished(s1, folder):  # stopped early (Ctrl-C is raised before this; a preemption is not)
            raise KeyboardInterrupt
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    cfg.paths.output_dir = str(out)  # resolved once: ${now:...} would give another folder in the copy
    cfg.model.tokenizer_ckpt = str(folder / "checkpoints" / "last.ckpt")
    print(f"genlab: stage 2 ({cfg.model._target_.rsplit('.', 1)[-1]}) in {out.resolve()}", flush=True)
    return cfg
