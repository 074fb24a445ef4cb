"""A run directory's records: resume means the saved run, records are appended and never lie, one writer
at a time, a refused run writes nothing, and a sweep's jobs each get their own folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, assert_one_sentence, cli, compose_tiny

TINY = ["model.generator.width=8", "model.discriminator.width=8", "model.latent_dim=16", "data.batch_size=16",
        "callbacks.progress_bar=null", "trainer.limit_val_batches=1", "callbacks.samples=null"]


def snapshot(folder):
    """Every file under `folder` with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A GAN trained 4 steps on digits (not the default data set)."""
    from genlab.train import train

    out = tmp_path_factory.mktemp("digits") / "run"
    train(compose_tiny(["data=digits", *TINY, "trainer.max_steps=4", f"paths.output_dir={out}"]))
    return out


def test_resume_continues_the_saved_config_and_appends_what_changed(digits_run, tmp_path, capsys, monkeypatch):
    import shutil

    run = tmp_path / "moved"  # a run folder that was moved (or shared) is resumed where it now is
    shutil.copytree(digits_run, run)
    original = (run / "config.yaml").read_bytes()
    code, out, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={run}", "trainer.max_steps=6",
                         cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err[-2000:]
    assert f"genlab: resuming in {run}" in out
    code, _, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={run}", "trainer.max_steps=8",
                       "model.optim_g.lr=1e-4", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err[-2000:]

    assert (run / "config.yaml").read_bytes() == original  # the original config is never rewritten
    assert "data:\n  _target_: genlab.data.GenDataModule\n  image_size: 16" in original.decode()
    sessions = [json.loads(line) for line in (run / "resumes.jsonl").read_text().splitlines()]
    assert [s["step"] for s in sessions] == [4, 6]
    assert sessions[0]["changes"] == {"trainer.max_steps": [4, 6]}
    assert sessions[1]["changes"] == {"trainer.max_steps": [6, 8], "model.optim_g.lr": [2e-3, 1e-4]}
    assert sessions[1]["overrides"] == ["trainer.max_steps=8", "model.optim_g.lr=1e-4"]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 8 and ckpt["hyper_parameters"]["optim_g"]["lr"] == 1e-4
    # the new learning rate reached the optimizer (Lightning would restore the saved one)
    assert [g["lr"] for g in ckpt["optimizer_states"][0]["param_groups"]] == [1e-4]
    assert [g["lr"] for g in ckpt["optimizer_states"][1]["param_groups"]] == [2e-3]
    assert str(run / "checkpoints") in ckpt["callbacks"]["Checkpoint[monitor=None]"]["dirpath"]
    log = (run / "train.log").read_text()
    assert "model.optim_g.lr is 0.0001 from step 6 on (was 0.002)" in log
    assert log.count("Trained ") == 3  # one line per session, appended
    # the run's own options (and the keys it set in them) given again change nothing
    code, _, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={run}", "data=digits", "model=gan",
                       *[o for o in TINY if o.startswith(("model.", "data."))], "model.optim_g.lr=1e-4",
                       "trainer.max_steps=9", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err[-2000:]
    last = json.loads((run / "resumes.jsonl").read_text().splitlines()[-1])
    assert last["changes"] == {"trainer.max_steps": [8, 9]}


@pytest.mark.parametrize("override,named", [
    ("data=shapes", "data.batch_size cannot change when resuming (the run has 16"),
    ("model=vae", "cannot change when resuming"),
    ("experiment=gan_digits", "experiment=gan_digits cannot be given when resuming"),
    ("model.generator.width=16", "model.generator.width cannot change when resuming (the run has 8, this command gives 16)"),
    ("data.batch_size=8", "data.batch_size cannot change"),
    ("data.image_size=32", "data.image_size cannot change"),
    ("seed=3", "seed cannot change"),
    ("trainer.max_steps=0", "trainer.max_steps=0 must be an integer >= 1"),
    ("callbacks.nothing.x=1", "the run's config has no callbacks.nothing.x; add it with +callbacks.nothing.x"),
])
def test_resume_refuses_what_cannot_change_and_writes_nothing(digits_run, tmp_path, capsys, monkeypatch, override,
                                                              named):
    before = snapshot(digits_run)
    code, _, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={digits_run}", override, cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, named)
    assert snapshot(digits_run) == before


def test_python_resume_takes_the_given_config_as_wanted(make_cfg, tmp_path):
    from genlab.errors import ConfigError
    from genlab.train import train

    train(make_cfg(["data=digits", "trainer.max_steps=2"]))
    with pytest.raises(ConfigError, match=r"data\.\w+ cannot change when resuming"):
        train(make_cfg(["trainer.max_steps=4", "ckpt_path=last"]))  # composed with the default data set
    train(make_cfg(["data=digits", "trainer.max_steps=4", "ckpt_path=last"]))
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4


def test_a_refused_run_writes_nothing_and_hydra_writes_nothing_into_runs(tmp_path, capsys, monkeypatch):
    fresh, empty = tmp_path / "fresh", tmp_path / "empty"
    empty.mkdir()
    for out in (fresh, empty):
        code, _, err = cli("genlab.train", *TINY, "trainer.max_steps=2.5", f"paths.output_dir={out}", cwd=tmp_path,
                           capsys=capsys, monkeypatch=monkeypatch)
        assert_one_sentence(code, err, "trainer.max_steps=2.5 must be an integer >= 1")
    assert not fresh.exists() and list(empty.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no .hydra/ or train.log in the cwd
    ok = tmp_path / "ok"
    code, _, err = cli("genlab.train", *TINY, "trainer.max_steps=1", f"paths.output_dir={ok}", cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err[-2000:]
    assert sorted(p.name for p in ok.iterdir()) == ["checkpoints", "config.yaml", "logs", "run.json", "train.log"]


def test_one_writer_per_run_directory(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    args = [*TINY, "trainer.max_steps=1", f"paths.output_dir={out}"]
    (out / ".lock").write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    code, _, err = cli("genlab.train", *args, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, f"is in use by process {os.getppid()}", "delete")
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    code, _, err = cli("genlab.train", *args, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err[-2000:]  # a stale lock (its process is gone) is taken over
    assert not (out / ".lock").exists()


def test_two_runs_started_together_into_one_directory(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "genlab.train", *TINY, "trainer.max_steps=8", "trainer.log_every_n_steps=1",
           f"paths.output_dir={out}"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refusal = next(err for code, err in results if code == 2)
    assert "is in use by process" in refusal or "already holds a run" in refusal
    rows = (out / "logs" / "metrics.csv").read_text().splitlines()
    steps = [line.split(",")[1] for line in rows[1:] if line.split(",")[1]]
    assert sorted(set(steps), key=int) == [str(i) for i in range(8)]


def test_a_sweep_into_a_fixed_directory_gives_each_job_a_folder(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    code, _, err = cli("genlab.train", "-m", *TINY, "trainer.max_steps=1,2", f"paths.output_dir={out}", cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err[-2000:]
    for job, steps in (("0", 1), ("1", 2)):
        ckpt = torch.load(out / job / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == steps
        assert f"max_steps: {steps}" in (out / job / "config.yaml").read_text()
