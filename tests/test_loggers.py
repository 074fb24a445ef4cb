"""Loggers work with no account and no network: wandb goes offline instead of prompting or waiting."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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


def test_each_run_in_one_process_gets_its_own_wandb_run(make_cfg, tmp_path):
    # a sweep's jobs (Hydra's basic launcher) and a notebook's cells train in one process
    from genlab.train import train

    for name in ("a", "b"):
        train(make_cfg(["logger=wandb", "trainer.max_steps=1", "callbacks.samples=null"],
                       output_dir=tmp_path / name))
    ids = [(tmp_path / n / "wandb" / "genlab-run-id").read_text().strip() for n in ("a", "b")]
    assert ids[0] != ids[1]
    for name, run_id in zip(("a", "b"), ids):
        runs = list((tmp_path / name / "wandb").glob(f"offline-run-*-{run_id}"))
        assert len(runs) == 1 and any(runs[0].rglob("*.wandb")), name


def test_tensorboard_events_in_the_run_directory(make_cfg, tmp_path):
    train(make_cfg(["logger=tensorboard", "trainer.max_steps=2"]))
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


# Sample grids reach every logger as the pixels of samples/final.png (wandb once got a [0, 1] float grid,
# which it casts to uint8 without scaling: a black image).
GRID = ["trainer.max_steps=2", "callbacks.samples.num_samples=4"]  # 8 steps an epoch: no validation grid


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def no_wandb_run():
    """Lightning's WandbLogger reuses a wandb run still open in this process (it never finishes its run):
    start and end without one, so that this test's run writes in this test's directory."""
    import wandb

    wandb.finish()
    yield
    wandb.finish()


def test_wandb_gets_the_sample_grid_pixels(make_cfg, tmp_path, monkeypatch, no_wandb_run):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "run"))
    train(make_cfg(["logger=wandb", *GRID]))
    final = png(tmp_path / "run" / "samples" / "final.png")
    logged = list((tmp_path / "run" / "wandb").glob("offline-run-*/files/media/images/samples_2_*.png"))
    assert len(logged) == 1
    image = png(logged[0])
    assert image.shape == final.shape == (2 + 2 * 34, 2 + 2 * 34, 3)  # 2 x 2 images of 32 px, 2 px padding
    assert image.max() > 100 and image.mean() > 50  # grey samples of an untrained generator, not black
    np.testing.assert_array_equal(image, final)


def test_tensorboard_gets_the_sample_grid_pixels(make_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

    train(make_cfg(["logger=tensorboard", *GRID]))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={IMAGES: 0})
    events.Reload()
    assert events.Tags()[IMAGES] == ["samples"]
    (event,) = events.Images("samples")
    image = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
    final = png(tmp_path / "run" / "samples" / "final.png")
    assert event.step == 2 and (event.height, event.width) == final.shape[:2]
    assert image.max() > 100
    np.testing.assert_array_equal(image, final)  # rounded as the PNG is, not truncated


def test_tensorboard_add_image_arguments(make_cfg, monkeypatch):
    """What TensorBoard is handed: a (C, H, W) uint8 grid, declared as such."""
    from torch.utils.tensorboard import SummaryWriter

    calls = []
    monkeypatch.setattr(SummaryWriter, "add_image",
                        lambda self, tag, img, step=None, walltime=None, dataformats="CHW":
                        calls.append((tag, img, step, dataformats)))
    train(make_cfg(["logger=tensorboard", *GRID]))
    ((tag, img, step, dataformats),) = calls
    assert (tag, step, dataformats) == ("samples", 2, "CHW")
    assert img.dtype == torch.uint8 and tuple(img.shape) == (3, 70, 70) and int(img.max()) > 100


@pytest.mark.parametrize("logger", ["csv", "none"])
def test_loggers_without_images(make_cfg, tmp_path, logger):
    train(make_cfg([f"logger={logger}", *GRID]))
    assert png(tmp_path / "run" / "samples" / "final.png").max() > 100
    metrics = tmp_path / "run" / "logs" / "metrics.csv"
    if logger == "csv":
        rows = list(csv.DictReader(metrics.open()))
        assert [int(r["step"]) for r in rows if r.get("train/d_loss")] == [0, 1]
    else:
        assert not metrics.exists()


def test_csv_resume_touches_the_file_on_rank_zero_only(tmp_path, monkeypatch):
    """On a DDP resume rank one read metrics.csv while rank zero rewrote it, and crashed (No such file)."""
    from pytorch_lightning.utilities import rank_zero_only

    old = "epoch,step,train/loss\n0,0,1.5\n"
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "metrics.csv").write_text(old)

    def csv_logger():
        return loggers.ResumableCSVLogger(save_dir=str(tmp_path), name="logs", version="")

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("rank one read metrics.csv"))
    assert type(csv_logger().experiment).__name__ == "_DummyExperiment"
    monkeypatch.undo()
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    writer = csv_logger().experiment
    assert writer.metrics_keys == ["epoch", "step", "train/loss"]
    assert (tmp_path / "logs" / "metrics.csv").read_text() == old
