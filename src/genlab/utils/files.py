"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os


def atomic_replace(tmp: str, target: str) -> None:
    """Flush `tmp` to disk, then move it over `target`: a crash leaves the old file or the new, never half."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    try:
        fd = os.open(os.path.dirname(os.path.abspath(target)), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    except OSError:  # some filesystems cannot fsync a directory
        pass
