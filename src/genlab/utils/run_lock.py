"""One run directory, one writer: `RUN/.lock` holds the pid and host of the process training there.

Taken atomically (O_CREAT | O_EXCL) before anything is written, removed when the run ends however it
ends (normal exit, error, Ctrl-C; a SIGKILL leaves it, and the next run finds that pid dead on this host
and takes the lock over). A lock held by a live process, or by a process on another host, refuses the
second run in one sentence.
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from genlab.errors import ConfigError

LOCK_NAME = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> dict | None:
    try:
        info = json.loads(lock.read_text())
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def acquire(run_dir: Path) -> Path:
    lock = run_dir / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            pid, host = holder.get("pid"), holder.get("host")
            stale = isinstance(pid, int) and host == me["host"] and not _alive(pid)
            if stale:
                lock.unlink(missing_ok=True)
                continue
            who = f"process {pid} on {host}" if pid else "another process"
            raise ConfigError(f"{run_dir} is in use by {who} (its {LOCK_NAME} file); wait for that run to end, "
                              f"or delete {lock} if that process is gone") from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return lock
    raise ConfigError(f"could not take the lock {lock}; delete it if no run is using {run_dir}")


@contextmanager
def run_lock(run_dir: Path, enabled: bool = True):
    """Hold RUN/.lock for the duration (only where `enabled`: rank zero of a distributed run)."""
    if not enabled:
        yield
        return
    lock = acquire(run_dir)
    try:
        yield
    finally:
        if _holder(lock).get("pid") == os.getpid():
            lock.unlink(missing_ok=True)
