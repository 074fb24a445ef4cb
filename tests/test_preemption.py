"""SIGTERM (and SLURM's SIGUSR1) save last.ckpt and stop cleanly; the run resumes; SLURM jobs requeue once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch
from conftest import run_cli

ARGS = ["model.g_width=8", "model.d_width=8", "data.source.num_train=64", "data.source.num_val=16",
        "data.batch_size=16", "trainer.limit_val_batches=1", "callbacks.progress_bar=null"]


def start(out, env_extra=None):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "genlab.train", *ARGS, "trainer.max_steps=100000",
                             f"paths.output_dir={out}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=out.parent)


def wait_for_training(out, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if list((out / "samples").glob("step_*.png")):  # the first epoch (4 steps) is done
            return
        time.sleep(0.2)
    raise AssertionError(f"training did not start: {proc.stderr.read()[-2000:] if proc.poll() is not None else ''}")


def test_sigterm_saves_and_exits_cleanly_then_resumes(tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    wait_for_training(out, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert "Preempted by SIGTERM" in stdout + stderr
    step = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 4 <= step < 100000
    r = run_cli(*ARGS, f"trainer.max_steps={step + 3}", "ckpt_path=last",
                f"paths.output_dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == step + 3


def test_slurm_sigusr1_requeues_once(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "scontrol.log"
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    (bin_dir / "scontrol").chmod(0o755)
    out = tmp_path / "run"
    proc = start(out, {"SLURM_JOB_ID": "4242", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    wait_for_training(out, proc)
    proc.send_signal(signal.SIGUSR1)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert log.read_text().splitlines() == ["requeue 4242"]
    assert (out / "checkpoints" / "last.ckpt").exists()
    # the requeued job finds its checkpoint by itself
    step = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    env_backup = dict(os.environ)
    os.environ["SLURM_RESTART_COUNT"] = "1"
    try:
        r = run_cli(*ARGS, f"trainer.max_steps={step + 2}",
                    f"paths.output_dir={out}", cwd=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == step + 2
