"""`python -m genlab.train`: compose the config, instantiate data, model, callbacks and trainer, fit.

No model logic here. Everything a run writes lives in `paths.output_dir`: config.yaml, run.json,
checkpoints/, samples/ and the logger's files.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError, GenlabError, exit_on_error


def is_rank_zero_process() -> bool:
    """False in the extra processes of a distributed run (Lightning's DDP children, SLURM tasks): they
    follow rank zero and write nothing themselves."""
    return all(int(os.environ.get(v, "0") or 0) == 0 for v in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


def check_output_dir(value) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"paths.output_dir={value!r} must be a directory path")
    out = Path(value).expanduser()
    resolved = out.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise ConfigError(f"paths.output_dir={value} is {'the filesystem root' if resolved.parent == resolved else 'your home directory'}; "
                          f"give a directory of its own, e.g. runs/NAME")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"paths.output_dir={out} is an existing file, not a directory; choose a directory path")
    return out


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path, rank_zero: bool = True) -> str | None:
    """`last` means the newest checkpoint of this run directory; a run directory is never silently reused."""
    last = output_dir / "checkpoints" / "last.ckpt"
    if ckpt_path is None and last.exists() and int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0:
        return str(last)  # a SLURM job requeued after preemption continues its run
    if ckpt_path is None:
        held = next((p for p in (last, output_dir / "stage1" / "checkpoints" / "last.ckpt") if p.exists()), None)
        if held is not None and rank_zero:
            raise ConfigError(f"{output_dir} already holds a run ({held.relative_to(output_dir)}); resume it with "
                              f"ckpt_path=last paths.output_dir={output_dir}, or choose another paths.output_dir")
        return None
    if not isinstance(ckpt_path, str):
        raise ConfigError(f"ckpt_path={ckpt_path!r} must be `last` or a checkpoint file path")
    if ckpt_path == "last":
        if not last.exists():
            raise ConfigError(f"ckpt_path=last but {output_dir} has no checkpoints/last.ckpt to resume; "
                              f"check paths.output_dir or drop ckpt_path to start a new run")
        return str(last)
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist")
    return ckpt_path


def resumes_own_run(ckpt_path: str, output_dir: Path) -> bool:
    """Whether the checkpoint belongs to the run in `output_dir` (then its saved config is resumed)."""
    inside = Path(ckpt_path).resolve().parent == (output_dir / "checkpoints").resolve()
    return inside and (output_dir / "config.yaml").is_file()


def check_checkpoint_fits(ckpt: dict, model, ckpt_path: str) -> None:
    """A checkpoint of another class or shape than the configured model: one sentence, not Lightning's
    40-line state_dict error."""
    cls = type(model)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if ckpt["genlab"]["class"] != name:
        raise ConfigError(f"ckpt_path={ckpt_path} holds a {ckpt['genlab']['class'].rsplit('.', 1)[-1]}, but the "
                          f"configured model is a {cls.__name__}; choose the matching model=")
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items() if hasattr(v, "shape")}
    missing = sorted(own.keys() - theirs.keys())
    wrong = sorted(k for k in own.keys() & theirs.keys() if own[k] != theirs[k])
    if missing or wrong:
        k = (wrong or missing)[0]
        what = f"{k} is {list(theirs[k])} there but {list(own[k])} here" if wrong else f"it lacks {k}"
        raise ConfigError(f"ckpt_path={ckpt_path} does not fit the configured {cls.__name__} ({what}); give the "
                          f"model settings it was trained with")


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
    trainer = make(cfg.trainer, callbacks=callbacks, logger=logger, plugins=plugins or None,
                   **ddp_strategy(cfg.trainer.get("strategy"), model))
    return datamodule, model, trainer


def ddp_strategy(strategy, model) -> dict:
    """`trainer.strategy=ddp` (or ddp_spawn, ...) with find_unused_parameters where the model needs it."""
    if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook") and model.ddp_unused_parameters:
        return {"strategy": f"{strategy}_find_unused_parameters_true"}
    return {}


def train(cfg: DictConfig, overrides: Sequence[str] | None = None) -> float | None:
    """Run one training job; returns the value of `optimized_metric` when one is set (for sweepers).

    Resuming a run of `paths.output_dir` (ckpt_path=last, or one of its checkpoints) resumes that run's
    saved config: from the command line `overrides` are applied on top of it; from Python (`overrides`
    None) `cfg` is the config wanted and its differences from the saved one are the changes. Either way
    only settings that can change mid-run may change, and the changes are recorded in resumes.jsonl.
    """
    from genlab.load import read_checkpoint
    from genlab.utils.resume_config import resume_config
    from genlab.utils.schema import TRAIN, check
    from genlab.utils.two_stage import is_two_stage, run_stage1, stage2_not_started

    quiet_known_noise()
    out = check_output_dir(cfg.paths.get("output_dir"))
    rank_zero = is_rank_zero_process()
    ckpt, changes, ckpt_path = None, None, None
    stage1_resumed = stage2_not_started(cfg, out)
    if stage1_resumed:  # a two-stage run whose stage 2 has no checkpoint yet
        cfg, changes = resume_config(out, cfg, overrides)
        cfg.ckpt_path = None
    else:
        ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), out, rank_zero)
    if ckpt_path is not None:
        stamp = file_stamp(ckpt_path)
        ckpt = read_checkpoint(ckpt_path)  # weights_only; one sentence for a truncated, foreign or unsafe file
        if resumes_own_run(ckpt_path, out):
            requeued = cfg.get("ckpt_path") is None  # a SLURM job requeued: the same command again
            cfg, changes = resume_config(out, cfg, overrides, requeued=requeued)
    check(cfg, TRAIN)

    def unchanged_since_checked() -> None:
        """The checks above ran before the lock: another run may have trained here meanwhile."""
        if ckpt_path is None:
            if not stage1_resumed:
                resolve_ckpt_path(None, out, rank_zero)
        elif file_stamp(ckpt_path) != stamp:
            raise ConfigError(f"{ckpt_path} changed while this command was starting (another run wrote it); "
                              f"run the command again")

    with run_directory(out, rank_zero, unchanged_since_checked) as log:
        if is_two_stage(cfg):
            if changes is None and rank_zero:  # the run's own record comes first: a resume needs it
                record_start(cfg, out, ckpt_path)
            cfg = run_stage1(cfg, out, train, log)
        return fit(cfg, out, ckpt_path, ckpt, changes, overrides, rank_zero, log)


def record_start(cfg: DictConfig, out: Path, ckpt_path: str | None) -> None:
    from genlab.utils.run_info import write_run_info

    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    write_run_info(out / "run.json", {"seed": cfg.seed, "resumed_from": ckpt_path})


def file_stamp(path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


@contextmanager
def run_directory(out: Path, rank_zero: bool, recheck=None):
    """Create (if needed) and lock the run directory; log to its train.log. A run refused before training
    leaves a directory it created empty-handed behind it removed."""
    import logging

    from genlab.utils.run_lock import run_lock

    created, had_log = not out.exists(), (out / "train.log").exists()
    if rank_zero:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create paths.output_dir={out} ({exc.strerror}); choose a writable "
                              f"directory") from None
    log = logging.getLogger("genlab")
    log.setLevel(logging.INFO)
    log.propagate = False  # its lines go to train.log; the console gets print()s and the progress bar
    for name in ("genlab", "genlab.progress", "pytorch_lightning"):
        logging.getLogger(name).disabled = False  # a logging config with disable_existing_loggers (Hydra's
        # `disabled` job logging, used by genlab.sample and genlab.eval) may have run in this process
    handler = None
    try:
        with run_lock(out, enabled=rank_zero):
            if rank_zero and recheck is not None:
                recheck()
            if rank_zero:
                handler = logging.FileHandler(out / "train.log", encoding="utf-8")
                handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
                for name in ("genlab", "pytorch_lightning"):
                    logging.getLogger(name).addHandler(handler)
            yield log
    except OSError as exc:
        inside = exc.filename and Path(str(exc.filename)).resolve().is_relative_to(out.resolve())
        if inside and exc.errno in (errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EPERM):
            raise ConfigError(f"cannot write in paths.output_dir={out} ({exc.strerror}: {exc.filename}); "
                              f"free space or choose a writable directory") from None
        raise
    except BaseException as exc:
        if handler is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            log.error("stopped: %s: %s", type(exc).__name__, first)
        raise
    finally:
        if handler is not None:
            for name in ("genlab", "pytorch_lightning"):
                logging.getLogger(name).removeHandler(handler)
            handler.close()
        if rank_zero and not (out / "config.yaml").exists():  # refused before it started: leave no trace
            if not had_log:
                (out / "train.log").unlink(missing_ok=True)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()


def fit(cfg: DictConfig, out: Path, ckpt_path: str | None, ckpt: dict | None, changes: dict | None,
        overrides: Sequence[str] | None, rank_zero: bool, log) -> float | None:
    import torch
    from pytorch_lightning import seed_everything

    from genlab.utils.loggers import finish_wandb
    from genlab.utils.run_info import append_resume

    seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    if ckpt is not None:
        use_fitted_settings(cfg, ckpt)
    datamodule, model, trainer = build(cfg)
    if ckpt is not None:
        check_checkpoint_fits(ckpt, model, ckpt_path)
    model.fit_to_data(datamodule)  # a tokenizer, a stage-1 model: kept as they are when resuming
    if str(cfg.trainer.get("precision")).startswith("64"):
        model.double()  # before Lightning restores a checkpoint into it, which it does before converting it

    if rank_zero:
        step = int(ckpt["global_step"]) if ckpt is not None else 0
        if changes is None:
            record_start(cfg, out, ckpt_path)
        else:
            append_resume(out / "resumes.jsonl", {"resumed_from": ckpt_path, "step": step,
                                                  "overrides": None if overrides is None else list(overrides),
                                                  "changes": changes})
        log.info("run directory %s", out.resolve())
        for key, (old, new) in (changes or {}).items():
            log.info("resume: %s changes from %r to %r at step %s", key, old, new, step)
        print(f"genlab: {'resuming' if ckpt_path else 'training'} in {out.resolve()}", flush=True)

    def interrupted() -> bool:  # Ctrl-C (genlab.callbacks.Preemption): last.ckpt saved, fit stopped
        return any(getattr(c, "interrupted", False) for c in trainer.callbacks)

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SystemExit:  # Lightning exits this way after a second Ctrl-C
        if interrupted():
            raise KeyboardInterrupt from None
        raise
    finally:
        finish_wandb(trainer.loggers)
    if trainer.is_global_zero:
        report(trainer, log)
    if interrupted():
        raise KeyboardInterrupt  # as Ctrl-C does anywhere in Python; the command line exits with 130
    metric = cfg.get("optimized_metric")
    if metric:
        if metric not in trainer.callback_metrics:
            raise ConfigError(f"optimized_metric={metric} was not logged; logged metrics are "
                              f"{sorted(trainer.callback_metrics)}")
        value = float(trainer.callback_metrics[metric])
        if not math.isfinite(value):  # a sweeper would rank it: fail the trial instead
            raise GenlabError(f"optimized_metric={metric} is {value} at step {trainer.global_step}")
        return value
    return None


def use_fitted_settings(cfg: DictConfig, ckpt: dict) -> None:
    """Settings a model fitted to the data (a tokenizer, the record of its stage-1 model) come from the
    checkpoint being resumed, not from fitting again."""
    from hydra.utils import get_class

    saved = ckpt.get("hyper_parameters", {})
    for key in getattr(get_class(cfg.model._target_), "fitted_settings", ()):
        if saved.get(key) is not None and key in cfg.model:
            cfg.model[key] = saved[key]


def report(trainer, log) -> None:
    ckpt = next((c for c in trainer.callbacks if hasattr(c, "last_model_path")), None)
    grids = [c.last_path for c in trainer.callbacks if getattr(c, "last_path", None)]
    lines = [f"Trained {trainer.global_step} steps."]
    if ckpt is not None:
        lines.append(f"  checkpoint: {Path(ckpt.last_model_path).resolve()}")
    if trainer.logger is not None and trainer.logger.log_dir:
        lines.append(f"  logs:       {Path(trainer.logger.log_dir).resolve()}")
    if grids:
        lines.append(f"  samples:    {Path(grids[0]).resolve()}")
    print("\n" + "\n".join(lines), flush=True)
    for line in lines:
        log.info(line.strip())


@hydra.main(version_base="1.3", config_path="pkg://genlab.conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    overrides = list(hc.overrides.task)
    if hc.mode == RunMode.MULTIRUN:
        return sweep_job(cfg, overrides, hc)
    if _resume_argv:
        overrides = _resume_argv.pop("overrides")
        sys.argv = _resume_argv.pop("argv")  # DDP ranks are launched with the command as typed
    with exit_on_error():
        try:
            return train(cfg, overrides=overrides)
        except KeyboardInterrupt:
            sys.exit(130)  # the shell's convention for a run stopped by Ctrl-C


def sweep_job(cfg: DictConfig, overrides: list[str], hc) -> float | None:
    """One job of a sweep, in a folder of its own under the sweep's folder. An error is said in one line
    and raised to the sweeper, which records the job as failed (Optuna then goes on with the study)."""
    from genlab.utils.multirun import one_job

    out = Path(hc.runtime.output_dir)
    cfg.paths.output_dir = str(out)
    try:
        with one_job(overrides, out):
            return train(cfg, overrides=overrides)
    except GenlabError as exc:
        print(f"error: sweep job {out.name} ({' '.join(overrides)}): {exc}", file=sys.stderr)
        raise
    except KeyboardInterrupt:
        sys.exit(130)


_resume_argv: dict = {}


def split_resume_argv(argv: list[str]) -> list[str]:
    """Resuming a run directory applies the overrides to *its* config, which Hydra does not know: it is
    given only what locates the run, and genlab applies the rest (an override such as ~callbacks.x may
    name a key only the saved config has)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if "-m" in argv or "--multirun" in argv or any(a.startswith("-") for a in argv):
        return argv
    try:
        parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(argv)}
    except HydraException:
        return argv  # Hydra reports it
    ckpt, out = parsed.get("ckpt_path"), parsed.get("paths.output_dir")
    if not isinstance(ckpt, str) or not isinstance(out, str):
        return argv
    if ckpt != "last" and not resumes_own_run(ckpt, Path(out)):
        return argv
    located = [a for a in argv if a.startswith(("ckpt_path=", "paths.output_dir=", "hydra."))]
    _resume_argv.update(argv=list(sys.argv), overrides=[a for a in argv if a not in located])
    return located


def check_renamed(argv: list[str]) -> None:
    """Settings that moved name the new key instead of Hydra's "not in struct"."""
    from genlab.models.gan import LEGACY_SETTINGS

    for arg in argv:
        key = arg.lstrip("+~").split("=", 1)[0]
        if key.startswith("model.") and key[len("model."):] in LEGACY_SETTINGS:
            net, setting = LEGACY_SETTINGS[key[len("model."):]]
            raise ConfigError(f"{key} is now model.{net}.{setting}: the GAN's networks are config nodes "
                              f"(model/{net}=resnet or dcgan chooses one; docs/models.md)")


def main() -> None:
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=True)  # redirected output (nohup, SLURM) shows lines as they come
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    with exit_on_error():
        check_renamed(sys.argv[1:])
    sys.argv = [sys.argv[0], *split_resume_argv(sys.argv[1:])]
    if any(a in ("-m", "--multirun") or a.startswith(("hparams_search=", "hydra/sweeper=")) for a in sys.argv[1:]):
        register_sweepers()
    _hydra_main()


def register_sweepers() -> None:
    """genlab's sweeper (hparams_search), for Hydra: its plugin scan misses packages of an editable install."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.genlab_sweepers.optuna_sweeper import OptunaSweeper, ResumableOptunaSweeper

    if OptunaSweeper is not None:
        Plugins.instance().register(ResumableOptunaSweeper)


if __name__ == "__main__":
    main()
