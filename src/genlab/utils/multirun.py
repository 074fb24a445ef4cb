"""A sweep job (`python -m genlab.train -m ...`, Optuna included) that trains on several processes.

Lightning's DDP launcher starts the other ranks by running the command line again (`sys.argv`). For a
sweep that command is the whole sweep: each rank would run every trial, and with Optuna sample its own
hyperparameters. So while a job trains, `sys.argv` is that job alone (its own overrides, its run directory,
`hydra.mode=RUN`), and afterwards the variables Lightning set for the job's process group are cleared and
the group is closed, so that the next job starts its own ranks.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

# what Lightning's launcher sets in the launching process for the ranks it starts
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def one_job(overrides: list[str], output_dir: Path):
    """Make `sys.argv` this job alone while it runs; then close the process group its ranks formed."""
    argv, env = list(sys.argv), {k: os.environ.get(k) for k in LAUNCH_VARIABLES}
    own = [o for o in overrides if not o.startswith("paths.output_dir=")]
    sys.argv = [argv[0], *own, f"paths.output_dir={output_dir}", "hydra.mode=RUN"]
    try:
        yield
    finally:
        sys.argv = argv
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
