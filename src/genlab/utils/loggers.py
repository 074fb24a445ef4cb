"""Logger factories that behave on machines without accounts or network."""

from __future__ import annotations

import csv
import netrc
import os
import socket
import warnings
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger, WandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment


def _wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _reachable(host: str = "api.wandb.ai", port: int = 443, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wandb_mode(requested: str = "auto") -> str:
    """"online" only with credentials and a reachable server; "offline" otherwise, so wandb never prompts
    (no key) nor waits about 100 s on a dead network (key, no network). WANDB_MODE, if set, wins."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if requested != "auto":
        return requested
    return "online" if _wandb_credentials() and _reachable() else "offline"


def wandb_logger(save_dir: str, project: str = "genlab", name: str | None = None, mode: str = "auto",
                 id: str | None = None, **kwargs) -> WandbLogger:
    """A WandbLogger that never prompts, and keeps one wandb run per run directory: the run id is stored in
    SAVE_DIR/wandb/genlab-run-id, so resuming (ckpt_path=last) continues the same wandb run."""
    mode = wandb_mode(mode)
    os.environ["WANDB_MODE"] = mode  # child processes (DDP ranks) make the same choice without probing
    os.environ.setdefault("WANDB_SILENT", "true")
    id_file = Path(save_dir) / "wandb" / "genlab-run-id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    if id is None and id_file.is_file():
        id = id_file.read_text().strip()
    if id is None:
        import secrets
        import string

        id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))  # wandb's form
    id_file.write_text(id + "\n")
    return WandbLogger(save_dir=save_dir, project=project, name=name, offline=mode == "offline", id=id,
                       resume="allow", **kwargs)


def finish_wandb(loggers) -> None:
    """End the wandb run a fit used. Lightning's WandbLogger never does, and reuses a run still open in the
    process, so the next fit in the same process (a sweep's next job, a notebook's next cell) would log
    into this one."""
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish()


class ResumableCSVLogger(CSVLogger):
    """CSVLogger that continues an existing metrics.csv on resume instead of deleting it.

    Lightning's writer deletes metrics.csv when it finds one; this keeps the old rows and columns, so a
    resumed run appends to the same file.
    """

    @property
    @rank_zero_experiment  # other ranks must not read the file while rank zero rewrites it (a DDP resume race)
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        path = os.path.join(self.log_dir, "metrics.csv")
        old = Path(path).read_text() if os.path.isfile(path) else None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
            writer = super().experiment
        if old:
            Path(path).write_text(old)
            writer.metrics_keys = sorted(next(csv.reader(old.splitlines()), []))
        return writer
