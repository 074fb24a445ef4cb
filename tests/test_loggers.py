"""Loggers work with no account and no network: wandb goes offline instead of prompting or waiting."""

from __future__ import annotations

import pytest

from genlab.train import train
from genlab.utils import loggers


@pytest.mark.parametrize("key,reachable,expected", [(False, True, "offline"), (True, False, "offline"),
                                                    (True, True, "online")])
def test_wandb_mode_auto(monkeypatch, key, reachable, expected):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(loggers, "_wandb_credentials", lambda: key)
    monkeypatch.setattr(loggers, "_reachable", lambda *a, **k: reachable)
    assert loggers.wandb_mode("auto") == expected


def test_wandb_mode_env_wins(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setattr(loggers, "_wandb_credentials", lambda: True)
    assert loggers.wandb_mode("auto") == "disabled"


def test_wandb_run_offline_in_the_run_directory(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc credentials
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "run"))
    train(make_cfg(["logger=wandb", "trainer.max_steps=2"]))
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))
    run_id = (tmp_path / "run" / "wandb" / "genlab-run-id").read_text().strip()
    assert runs[0].name.endswith(run_id)
    # resuming continues the same wandb run
    train(make_cfg(["logger=wandb", "trainer.max_steps=3", "ckpt_path=last"]))
    runs = sorted((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert runs and all(r.name.endswith(run_id) for r in runs)


def test_tensorboard_events_in_the_run_directory(make_cfg, tmp_path):
    train(make_cfg(["logger=tensorboard", "trainer.max_steps=2"]))
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
