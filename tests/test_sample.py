"""`python -m genlab.sample`: grids, single PNGs, seeds, prompts (commas, apostrophes), modes, errors."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from genlab.train import train


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from conftest import TINY
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    root = tmp_path_factory.mktemp("ckpts")
    paths = {}
    for name in ("gan", "cvae", "beta_vae"):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
            sizes = {"gan": ["model.generator.width=8", "model.discriminator.width=8"], "cvae": ["model.width=8"],
                     "beta_vae": ["model.width=8"]}[name]
            cfg = compose("train", overrides=[*TINY, *sizes, f"model={name}", "data=digits", "trainer.max_steps=3",
                                              f"paths.output_dir={root / name}"])
        train(cfg)
        paths[name] = root / name / "checkpoints" / "last.ckpt"
    GlobalHydra.instance().clear()
    return paths


def sample(run, *args, cwd):
    return run("--module=genlab.sample", *map(str, args), cwd=cwd)


def test_grid_same_seed_same_image(checkpoints, tmp_path, run_inproc):
    for out, seed in (("a.png", 0), ("b.png", 0), ("c.png", 1)):
        r = sample(run_inproc, f"ckpt_path={checkpoints['gan']}", "num_samples=9", f"out={out}", f"seed={seed}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    a, b, c = (torch.tensor(list(Image.open(tmp_path / f).getdata())) for f in ("a.png", "b.png", "c.png"))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert Image.open(tmp_path / "a.png").size == (3 * 16 + 4 * 2, 3 * 16 + 4 * 2)


def test_folder_of_single_pngs_with_a_prompt_holding_comma_and_apostrophe(checkpoints, tmp_path, run_inproc):
    # the whole prompt arrives, apostrophe included: its words outside the digits' vocabulary are named
    r = sample(run_inproc, f"ckpt_path={checkpoints['cvae']}", "num_samples=5", "out=singles/",
               "prompt=\"a handwritten digit seven, it's neat\"", cwd=tmp_path)
    assert r.returncode == 2 and "the words \"it's\", 'neat' are not in this model's vocabulary" in r.stderr, r.stderr
    assert not (tmp_path / "singles").exists()
    r = sample(run_inproc, f"ckpt_path={checkpoints['cvae']}", "num_samples=5", "out=singles/",
               "prompt=\"a handwritten digit seven, a digit seven\"", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "singles").iterdir())
    assert files == [f"{i:04d}.png" for i in range(5)] and Image.open(tmp_path / "singles" / files[0]).size == (16, 16)


def test_prompts_file_cycles(checkpoints, tmp_path, run_inproc):
    (tmp_path / "prompts.txt").write_text("a handwritten digit one\n\na handwritten digit eight\n")
    r = sample(run_inproc, f"ckpt_path={checkpoints['cvae']}", "num_samples=4", f"prompts_file={tmp_path / 'prompts.txt'}",
               "out=p.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    from omegaconf import OmegaConf

    import genlab
    from genlab.sample import read_prompts

    cfg = OmegaConf.create({"prompt": None, "prompts_file": str(tmp_path / "prompts.txt")})
    assert read_prompts(cfg, 4) == ["a handwritten digit one", "a handwritten digit eight"] * 2
    assert genlab.load(checkpoints["cvae"]).conditional


def test_modes(checkpoints, tmp_path, run_inproc):
    r = sample(run_inproc, f"ckpt_path={checkpoints['gan']}", "mode=interpolate", "num_samples=16", "steps=8", "out=i.png",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "i.png").size == (8 * 16 + 9 * 2, 2 * 16 + 3 * 2)
    r = sample(run_inproc, f"ckpt_path={checkpoints['beta_vae']}", "mode=traverse", "dims=4", "steps=5", "out=t.png",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "t.png").size == (5 * 16 + 6 * 2, 4 * 16 + 5 * 2)
    r = sample(run_inproc, f"ckpt_path={checkpoints['gan']}", "mode=traverse", "out=t2.png", cwd=tmp_path)
    assert r.returncode == 2 and "mode=traverse needs a model of the VAE family" in r.stderr


def test_errors(checkpoints, tmp_path, run_inproc):
    r = sample(run_inproc, f"ckpt_path={checkpoints['gan']}", "prompt=a red circle", cwd=tmp_path)
    assert r.returncode == 2 and "unconditional GAN, which takes no prompt" in r.stderr
    r = sample(run_inproc, f"ckpt_path={checkpoints['cvae']}", cwd=tmp_path)
    assert r.returncode == 2 and "give prompt=" in r.stderr
    r = sample(run_inproc, f"ckpt_path={checkpoints['gan']}", "num_samples=0", cwd=tmp_path)
    assert r.returncode == 2 and "num_samples=0 must be an integer >= 1" in r.stderr
    assert not list(tmp_path.glob("*.png"))
