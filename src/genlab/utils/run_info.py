"""Run metadata written next to each run's config: command line, git commit, package versions."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ["genlab", "torch", "torchvision", "pytorch-lightning", "hydra-core", "omegaconf", "torchmetrics",
            "torch-fidelity", "wandb", "numpy"]


def git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def run_info(extra: dict | None = None) -> dict:
    import genlab

    return {
        "command": [sys.executable, *sys.argv],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(Path(genlab.__file__).resolve().parent),
        "versions": versions(),
        **(extra or {}),
    }


def write_run_info(path: Path, extra: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run_info(extra), indent=2) + "\n")
    return path


def append_resume(path: Path, extra: dict) -> Path:
    """One JSON line per resumed session: never rewrites what earlier sessions recorded."""
    info = run_info(extra)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(info) + "\n")
    return path
