"""`python -m genlab.eval`: checkpoint and images_dir give the same numbers; JSON metadata; clear errors."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from genlab.train import train


@pytest.fixture(scope="module")
def gan_checkpoint(tmp_path_factory):
    from conftest import TINY
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    out = tmp_path_factory.mktemp("evalrun") / "run"
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, "model.g_width=8", "model.d_width=8", "data.source.num_train=64",
                                          "trainer.max_steps=3", f"paths.output_dir={out}"])
    GlobalHydra.instance().clear()
    train(cfg)
    return out / "checkpoints" / "last.ckpt"


def test_checkpoint_and_its_png_files_give_the_same_numbers(gan_checkpoint, tmp_path):
    r = run_cli("--module=genlab.eval", f"ckpt_path={gan_checkpoint}", "num_samples=40", "batch_size=40",
                "metrics=[fid,kid,pr]", "out=a.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fid" in r.stdout and "wrote" in r.stdout
    a = json.loads((tmp_path / "a.json").read_text())
    for key in ("fid", "kid", "precision", "recall", "num_images", "extractor", "extractor_weights_sha256", "data",
                "split", "data_generator_version", "genlab_version"):
        assert key in a, key
    assert a["num_images"] == 40 and a["extractor"] == "judge" and a["data"] == "Shapes" and a["fid"] > 0
    # the same samples written as PNGs (genlab.sample, same seed and chunking) score identically
    r = run_cli("--module=genlab.sample", f"ckpt_path={gan_checkpoint}", "num_samples=40", "out=pngs/",
                "seed=0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli("--module=genlab.eval", f"images_dir={tmp_path / 'pngs'}", "dataset=shapes", "num_samples=40",
                "batch_size=40", "metrics=[fid,kid,pr]", "out=b.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    b = json.loads((tmp_path / "b.json").read_text())
    for key in ("fid", "kid", "precision", "recall"):
        assert a[key] == b[key], key


def test_missing_inception_weights_is_one_sentence(gan_checkpoint, tmp_path):
    r = run_cli("--module=genlab.eval", f"ckpt_path={gan_checkpoint}", "feature_extractor=inception",
                f"inception_weights={tmp_path / 'absent.pth'}", cwd=tmp_path)
    assert r.returncode == 2
    assert "error: the Inception weights weights-inception-2015-12-05-6726825d.pth are not in" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "metrics.json").exists()


def test_bad_requests(gan_checkpoint, tmp_path):
    r = run_cli("--module=genlab.eval", f"ckpt_path={gan_checkpoint}", "metrics=[fid,is]", cwd=tmp_path)
    assert r.returncode == 2 and "must be a non-empty list of" in r.stderr
    r = run_cli("--module=genlab.eval", f"images_dir={tmp_path}", cwd=tmp_path)
    assert r.returncode == 2 and "images_dir= needs dataset=NAME" in r.stderr
