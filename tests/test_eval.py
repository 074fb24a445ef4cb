"""`python -m genlab.eval`: checkpoint and images_dir give the same numbers; JSON metadata; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genlab.train import train


@pytest.fixture(scope="module")
def gan_checkpoint(tmp_path_factory):
    from conftest import TINY
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    out = tmp_path_factory.mktemp("evalrun") / "run"
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, "model.generator.width=8", "model.discriminator.width=8", "data.source.num_train=64",
                                          "trainer.max_steps=3", f"paths.output_dir={out}"])
    GlobalHydra.instance().clear()
    train(cfg)
    return out / "checkpoints" / "last.ckpt"


def test_checkpoint_and_its_png_files_give_the_same_numbers(gan_checkpoint, tmp_path, run_inproc):
    r = run_inproc("--module=genlab.eval", f"ckpt_path={gan_checkpoint}", "num_samples=40", "batch_size=40",
                "metrics=[fid,kid,pr]", "out=a.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fid" in r.stdout and "wrote" in r.stdout
    a = json.loads((tmp_path / "a.json").read_text())
    for key in ("fid", "kid", "precision", "recall", "num_images", "extractor", "extractor_weights_sha256", "data",
                "split", "data_generator_version", "genlab_version"):
        assert key in a, key
    assert a["num_images"] == 40 and a["extractor"] == "judge" and a["data"] == "Shapes" and a["fid"] > 0
    # the same samples written as PNGs (genlab.sample, same seed and chunking) score identically
    r = run_inproc("--module=genlab.sample", f"ckpt_path={gan_checkpoint}", "num_samples=40", "out=pngs/",
                "seed=0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_inproc("--module=genlab.eval", f"images_dir={tmp_path / 'pngs'}", "dataset=shapes", "num_samples=40",
                "batch_size=40", "metrics=[fid,kid,pr]", "out=b.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    b = json.loads((tmp_path / "b.json").read_text())
    for key in ("fid", "kid", "precision", "recall"):
        assert a[key] == b[key], key


def test_missing_inception_weights_is_one_sentence(gan_checkpoint, tmp_path, run_inproc):
    r = run_inproc("--module=genlab.eval", f"ckpt_path={gan_checkpoint}", "feature_extractor=inception",
                f"inception_weights={tmp_path / 'absent.pth'}", cwd=tmp_path)
    assert r.returncode == 2
    assert "error: the Inception weights weights-inception-2015-12-05-6726825d.pth are not in" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "metrics.json").exists()


def test_bad_requests(gan_checkpoint, tmp_path, run_inproc):
    r = run_inproc("--module=genlab.eval", f"ckpt_path={gan_checkpoint}", "metrics=[fid,lpips]", cwd=tmp_path)
    assert r.returncode == 2 and "must be a non-empty list of" in r.stderr
    r = run_inproc("--module=genlab.eval", f"images_dir={tmp_path}", cwd=tmp_path)
    assert r.returncode == 2 and "images_dir= needs dataset=NAME" in r.stderr


def eval_cfg(*overrides):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("eval", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


def test_reference_statistics_are_cached_by_everything_they_depend_on(gan_checkpoint, tmp_path, capsys):
    from genlab.eval import evaluate

    base = [f"ckpt_path={gan_checkpoint}", "num_samples=40", "batch_size=40", f"cache_dir={tmp_path}"]
    first = evaluate(eval_cfg(*base, "metrics=[fid,is]"))
    assert first["reference_cache_status"] == "miss" and 1 - 1e-9 <= first["is"] <= 240
    stats = sorted(p.name for p in tmp_path.iterdir())
    assert stats == [f"{Path(first['reference_cache']).name}.stats.pt"]
    name = stats[0]
    for part in ("shapes-val-32px-v1-judge-", first["extractor_weights_sha256"][:12], "-n40-"):
        assert part in name, part
    again = evaluate(eval_cfg(*base, "metrics=[fid,is]"))
    assert again["reference_cache_status"] == "hit" and (again["fid"], again["is"]) == (first["fid"], first["is"])
    # KID needs the features themselves: computed once more, then kept
    kid = evaluate(eval_cfg(*base, "metrics=[fid,kid]"))
    assert kid["reference_cache_status"] == "miss" and kid["fid"] == first["fid"]
    assert evaluate(eval_cfg(*base, "metrics=[kid]"))["reference_cache_status"] == "hit"
    assert len(list(tmp_path.glob("*.features.pt"))) == 1
    # another number of images, split or data setting is another entry; no cache gives the same number
    assert evaluate(eval_cfg(*base[:1], "num_samples=30", *base[2:], "metrics=[fid]"))["reference_cache_status"] == "miss"
    assert evaluate(eval_cfg(*base, "split=heldout", "metrics=[fid]"))["reference_cache_status"] == "miss"
    assert len(list(tmp_path.glob("*.stats.pt"))) == 3
    off = evaluate(eval_cfg(*base, "metrics=[fid]", "cache=false"))
    assert off["reference_cache_status"] == "off" and off["reference_cache"] is None and off["fid"] == first["fid"]
    # a damaged entry is recomputed, not trusted
    (tmp_path / name).write_bytes(b"not a tensor file")
    redone = evaluate(eval_cfg(*base, "metrics=[fid]"))
    assert redone["reference_cache_status"] == "miss" and redone["fid"] == first["fid"]
    # a cache that cannot be written costs time, not the result
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = evaluate(eval_cfg(*base[:3], f"cache_dir={blocker / 'cache'}", "metrics=[fid]"))
    assert unwritable["fid"] == first["fid"]
    assert f"warning: could not write the reference cache {blocker / 'cache'}" in capsys.readouterr().err


def test_conditional_accuracy_of_a_caption_model(tmp_path, run_inproc):
    from conftest import TINY, TINY_MODEL

    out = tmp_path / "cvae"
    sizes = [f"model.{k}={TINY_MODEL[k]}" for k in ("width", "latent_dim")] + ["model.text_encoder.dim=16"]
    r = run_inproc("model=cvae", *TINY, *sizes, "data.source.num_train=64", "data.source.num_heldout=32",
                "trainer.max_steps=3", f"paths.output_dir={out}")
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_inproc("--module=genlab.eval", f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}", "num_samples=24",
                "metrics=[cond_acc,is]", "out=m.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "cond_acc heldout" in r.stdout and "is " in r.stdout
    result = json.loads((tmp_path / "m.json").read_text())
    assert set(result["cond_acc"]) == {"train", "heldout"}
    for split, acc in result["cond_acc"].items():
        assert set(acc) == {"shape", "colour", "size", "position", "joint", "num_images"}, split
        assert acc["num_images"] == 24 and all(0 <= acc[k] <= 1 for k in acc if k != "num_images")
        assert acc["joint"] <= min(acc[k] for k in ("shape", "colour", "size", "position"))
    r = run_inproc("--module=genlab.eval", f"images_dir={tmp_path}", "dataset=shapes", "metrics=[cond_acc]", cwd=tmp_path)
    assert r.returncode == 2 and "needs ckpt_path=, not images_dir=" in r.stderr
