"""`python -m genlab.train`: compose the config, instantiate data, model, callbacks and trainer, fit.

No model logic here. Everything a run writes lives in `paths.output_dir`: config.yaml, run.json,
checkpoints/, samples/ and the logger's files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError, exit_on_error


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`last` means the newest checkpoint of this run directory; a run directory is never silently reused."""
    last = output_dir / "checkpoints" / "last.ckpt"
    if ckpt_path is None and last.exists() and int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0:
        return str(last)  # a SLURM job requeued after preemption continues its run
    if ckpt_path is None:
        if last.exists():
            raise ConfigError(f"{output_dir} already holds a run (checkpoints/last.ckpt); resume it with "
                              f"ckpt_path=last paths.output_dir={output_dir}, or choose another paths.output_dir")
        return None
    if ckpt_path == "last":
        if not last.exists():
            raise ConfigError(f"ckpt_path=last but {output_dir} has no checkpoints/last.ckpt to resume; "
                              f"check paths.output_dir or drop ckpt_path to start a new run")
        return str(last)
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist")
    return ckpt_path


def check_model_fits_data(model, datamodule) -> None:
    for key in ("image_size", "channels"):
        m, d = getattr(model, key, None), getattr(datamodule, key)
        if m is not None and m != d:
            raise ConfigError(f"model.{key}={m} does not match data.{key}={d}; leave model.{key} at its "
                              f"default (${{data.{key}}}) or change data.{key}")


def quiet_known_noise() -> None:
    """Drop messages that say nothing about this run (a product tip, internal deprecations, the EMA copy
    being in eval mode on purpose)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # genlab's ResumeState callback restores the data position itself
    warnings.filterwarnings("ignore", message=r".*your dataloader is not resumable.*")
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in str(record.msg))


def build(cfg: DictConfig):
    """Instantiate datamodule, model, callbacks, logger and trainer from a composed config."""
    from genlab.utils.config import make

    datamodule = make(cfg.data)
    model = make(cfg.model)
    check_model_fits_data(model, datamodule)
    callbacks = [make(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c]
    logger = make(cfg.logger) if cfg.get("logger") and "_target_" in cfg.logger else False
    plugins = []
    from lightning_fabric.plugins.environments import SLURMEnvironment

    if SLURMEnvironment.detect():
        plugins.append(SLURMEnvironment(auto_requeue=False))  # genlab's Preemption callback requeues, once
    trainer = make(cfg.trainer, callbacks=callbacks, logger=logger, plugins=plugins or None)
    return datamodule, model, trainer


def train(cfg: DictConfig) -> float | None:
    """Run one training job; returns the value of `optimized_metric` when one is set (for sweepers)."""
    import torch
    from pytorch_lightning import seed_everything

    from genlab.utils.run_info import write_run_info

    quiet_known_noise()
    out = Path(cfg.paths.output_dir)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), out)
    seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    datamodule, model, trainer = build(cfg)

    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        write_run_info(out / "run.json", {"seed": cfg.seed, "resumed_from": ckpt_path})

    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)

    if trainer.is_global_zero:
        ckpt = next((c for c in trainer.callbacks if hasattr(c, "last_model_path")), None)
        grids = [c.last_path for c in trainer.callbacks if getattr(c, "last_path", None)]
        print(f"\nTrained {trainer.global_step} steps.")
        if ckpt is not None:
            print(f"  checkpoint: {Path(ckpt.last_model_path).resolve()}")
        if trainer.logger is not None and trainer.logger.log_dir:
            print(f"  logs:       {Path(trainer.logger.log_dir).resolve()}")
        if grids:
            print(f"  samples:    {Path(grids[0]).resolve()}")

    metric = cfg.get("optimized_metric")
    if metric:
        if metric not in trainer.callback_metrics:
            raise ConfigError(f"optimized_metric={metric} was not logged; logged metrics are "
                              f"{sorted(trainer.callback_metrics)}")
        return float(trainer.callback_metrics[metric])
    return None


@hydra.main(version_base="1.3", config_path="pkg://genlab.conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN and not any(o.startswith("paths.output_dir=") for o in hc.overrides.task):
        cfg.paths.output_dir = hc.runtime.output_dir  # one folder per sweep job
    with exit_on_error():
        return train(cfg)


def check_argv(argv: list[str]) -> None:
    """Failures Hydra would report as a traceback before `main` runs, caught with a clear message."""
    for arg in argv:
        if arg.startswith("paths.output_dir="):
            target = Path(arg.split("=", 1)[1])
            if target.exists() and not target.is_dir():
                raise ConfigError(f"paths.output_dir={target} is an existing file, not a directory; "
                                  f"choose a directory path")


def main() -> None:
    with exit_on_error():
        check_argv(sys.argv[1:])
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    _hydra_main()


if __name__ == "__main__":
    main()
