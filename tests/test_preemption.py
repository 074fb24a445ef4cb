"""SIGTERM (and SLURM's SIGUSR1) save last.ckpt and stop cleanly; the run resumes; SLURM jobs requeue once.
Ctrl-C saves and stops too, without requeueing; a second Ctrl-C stops at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch
from conftest import ROOT

ARGS = ["model.generator.width=8", "model.discriminator.width=8", "data.source.num_train=64", "data.source.num_val=16",
        "data.batch_size=16", "trainer.limit_val_batches=1", "callbacks.progress_bar=null",
        "trainer.val_check_interval=4"]  # a grid at each epoch's end: the sign that training has started


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


def test_sigterm_saves_and_exits_cleanly_then_resumes(tmp_path, run_inproc):
    out = tmp_path / "run"
    proc = start(out)
    wait_for_training(out, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert "Preempted by SIGTERM" in stdout + stderr
    # sampling the final grid would spend the scheduler's grace period: only the resumed run's end writes it
    assert not (out / "samples" / "final.png").exists()
    step = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 4 <= step < 100000
    r = run_inproc(*ARGS, f"trainer.max_steps={step + 3}", "ckpt_path=last", f"paths.output_dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == step + 3
    assert (out / "samples" / "final.png").exists()


def fake_scontrol(tmp_path):
    """A `scontrol` on PATH that records its arguments: (its folder, its log)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "scontrol.log"
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    (bin_dir / "scontrol").chmod(0o755)
    return bin_dir, log


def test_slurm_sigusr1_requeues_once(tmp_path, run_inproc, monkeypatch):
    bin_dir, log = fake_scontrol(tmp_path)
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
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    r = run_inproc(*ARGS, f"trainer.max_steps={step + 2}", f"paths.output_dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == step + 2


# Ctrl-C (SIGINT): save last.ckpt after the current step, stop, never requeue; a second Ctrl-C stops at once.
def ctrl_c_run(tmp_path, times, extra=()):
    """Train to step 20 with Ctrl-C pressed `times` times as step 5 starts (crash_helper.InterruptAtStep, to
    the process group as a terminal sends it), under a fake SLURM job whose requeues are recorded."""
    bin_dir, log = fake_scontrol(tmp_path)
    out = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", "SLURM_JOB_ID": "4242",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    fast = ["model.latent_dim=16", "trainer.enable_model_summary=false", "callbacks.samples.num_samples=4"]
    proc = subprocess.run([sys.executable, "-m", "genlab.train", *ARGS, *fast, "trainer.max_steps=20", *extra,
                           "+callbacks.ctrl_c._target_=crash_helper.InterruptAtStep", "+callbacks.ctrl_c.step=5",
                           f"+callbacks.ctrl_c.times={times}", f"paths.output_dir={out}"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
                          start_new_session=True,  # its own process group, which the helper signals
                          # as from a terminal: a runner started in the background (`pytest &`) ignores SIGINT,
                          # which its children would inherit
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return proc, out, log


def test_ctrl_c_saves_last_and_stops(tmp_path):
    proc, out, log = ctrl_c_run(tmp_path, 1, ["data.num_workers=2"])  # the workers get the SIGINT too
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.count("press Ctrl-C again to stop at once") == 1
    assert "genlab: Ctrl-C: saving last.ckpt and stopping after the current step" in proc.stderr
    # the signal came as step 5 (the 6th batch) started; that step ends, then last.ckpt is saved
    assert "Interrupted by Ctrl-C (SIGINT) at step 6" in proc.stdout + proc.stderr
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    assert (out / "samples" / "final.png").exists()  # a clean stop: fit ended normally
    assert not log.exists()  # Ctrl-C is not a preemption: the SLURM job is not requeued
    assert not (out / ".lock").exists()


def test_second_ctrl_c_stops_at_once(tmp_path):
    proc, out, log = ctrl_c_run(tmp_path, 2)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.count("press Ctrl-C again to stop at once") == 1
    assert "Detected KeyboardInterrupt" in proc.stdout + proc.stderr
    # stopped inside step 5: no checkpoint saved (the schedule is every 500 steps), no final grid
    assert not (out / "checkpoints" / "last.ckpt").exists()
    assert not (out / "samples" / "final.png").exists()
    assert not log.exists()
    assert not (out / ".lock").exists()


def test_sigint_ignored_at_start_stays_ignored_and_handlers_are_restored():
    from types import SimpleNamespace

    from genlab.callbacks import Preemption

    trainer = SimpleNamespace(is_global_zero=True)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        p = Preemption()
        p.on_train_start(trainer, None)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == p._handle
        p.on_train_end(trainer, None)
        assert signal.getsignal(signal.SIGTERM) == before[signal.SIGTERM]

        signal.signal(signal.SIGINT, signal.default_int_handler)
        p = Preemption()
        p.on_train_start(trainer, None)
        assert signal.getsignal(signal.SIGINT) == p._handle
        p.on_exception(trainer, None, RuntimeError("boom"))  # a failed fit puts the handlers back too
        assert signal.getsignal(signal.SIGINT) == signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) == before[signal.SIGTERM]
    finally:
        for s, h in before.items():
            signal.signal(s, h)
