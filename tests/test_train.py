"""A run end to end: its directory, checkpoints (weights_only), resume, genlab.load, and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose_tiny, run_cli

import genlab
from genlab.errors import ConfigError
from genlab.load import CheckpointError
from genlab.train import train


def test_run_directory_checkpoint_and_resume(make_cfg, tmp_path):
    out = tmp_path / "run"
    train(make_cfg(["trainer.max_steps=6", "model.n_dis=2", "callbacks.model_checkpoint.every_n_train_steps=4"]))

    # the run directory contract
    assert (out / "config.yaml").read_text().count("max_steps: 6") == 1
    info = json.loads((out / "run.json").read_text())
    assert info["versions"]["torch"] and info["seed"] == 0 and "command" in info
    assert (out / "samples" / "final.png").stat().st_size > 100
    assert (out / "logs" / "metrics.csv").exists()
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6  # generator updates, though 18 optimizer steps ran
    assert ckpt["genlab"]["class"] == "genlab.models.gan.GAN" and ckpt["genlab"]["format_version"] == 1
    assert isinstance(ckpt["hyper_parameters"]["optim_g"], dict)
    assert isinstance(ckpt["callbacks"]["ResumeState"]["rng"]["torch"], torch.Tensor)
    assert (out / "checkpoints" / "step_0000004.ckpt").exists() is False  # save_top_k=0 keeps only last
    d_steps = {int(s["step"]) for s in ckpt["optimizer_states"][1]["state"].values()}
    assert d_steps == {12}

    # a second run into the same directory is refused, naming the way to resume
    with pytest.raises(ConfigError, match="ckpt_path=last"):
        train(make_cfg(["trainer.max_steps=6"]))

    # resume: counters, both optimizers and EMA continue from the checkpoint
    train(make_cfg(["trainer.max_steps=9", "model.n_dis=2", "ckpt_path=last"]))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.ckpt"]
    resumed = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == 9
    assert {int(s["step"]) for s in resumed["optimizer_states"][0]["state"].values()} == {9}
    assert {int(s["step"]) for s in resumed["optimizer_states"][1]["state"].values()} == {18}
    ema_key = next(k for k in resumed["state_dict"] if k.startswith("generator_ema."))
    assert not torch.equal(resumed["state_dict"][ema_key], ckpt["state_dict"][ema_key])
    # the logger continues the same file: rows of both sessions are there
    import csv

    rows = list(csv.DictReader((out / "logs" / "metrics.csv").open()))
    steps = {int(r["step"]) for r in rows if r.get("train/g_loss")}
    assert {0, 5, 6, 8} <= steps


def test_resume_without_checkpoint_is_an_error(make_cfg):
    with pytest.raises(ConfigError, match="has no checkpoints/last.ckpt"):
        train(make_cfg(["ckpt_path=last"]))


def test_load_and_generate(make_cfg, tmp_path):
    train(make_cfg(["trainer.max_steps=3"]))
    model = genlab.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert type(model).__name__ == "GAN" and not model.training
    a, b, c = model.generate(8, generator=0), model.generate(8, generator=0), model.generate(8, generator=1)
    assert a.shape == (8, 3, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.allclose(a, c)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    ema = {k[len("generator_ema."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("generator_ema.")}
    assert all(torch.equal(model.generator_ema.state_dict()[k], v) for k, v in ema.items())


def test_load_refuses_foreign_and_broken_files(tmp_path, make_cfg):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        genlab.load(broken)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a genlab checkpoint"):
        genlab.load(foreign)
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "genlab": {"format_version": 1, "class": "os.system"}}, evil)
    with pytest.raises(CheckpointError, match="not a genlab model"):
        genlab.load(evil)
    missing = tmp_path / "missing.ckpt"
    torch.save({"state_dict": {}, "genlab": {"format_version": 1, "class": "genlab.models.gan.Nope"}}, missing)
    with pytest.raises(CheckpointError, match="does not have"):
        genlab.load(missing)


def test_channels_that_do_not_match_the_data(make_cfg):
    with pytest.raises(ConfigError, match="model.channels=1 does not match data.channels=3"):
        train(make_cfg(["model.channels=1"]))


def test_cli_trains_and_reports(tmp_path):
    out = tmp_path / "cli"
    result = run_cli("model.generator.width=8", "model.discriminator.width=8", "data.source.num_train=64", "data.batch_size=16",
                     "trainer.max_steps=4", "trainer.limit_val_batches=1", f"paths.output_dir={out}",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"checkpoint: {out}/checkpoints/last.ckpt" in result.stdout
    assert f"samples:    {out}/samples/final.png" in result.stdout
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert (out / "samples" / "final.png").exists()


def test_cli_unknown_model_lists_the_models(tmp_path, run_inproc):
    result = run_inproc("model=gam", cwd=tmp_path)
    assert result.returncode != 0
    assert "Could not find 'model/gam'" in result.stderr
    assert "\tgan" in result.stderr and "\tdcgan" in result.stderr
    assert not (tmp_path / "outputs").exists()  # failed before any run directory, data or model


def test_cli_help_lists_groups(tmp_path, run_inproc):
    result = run_inproc("--help", cwd=tmp_path)
    assert result.returncode == 0
    for line in ["model: ae, beta_vae, cdiffusion, cgan, cvae, dalle, dcgan, diffusion, flow, gan, vae, vqvae", "data: celeba, cifar10, digits, fashion_mnist, folder, mnist, mnist5k, shapes",
                 "logger: csv, none, tensorboard, wandb"]:
        assert line in result.stdout


def test_cli_bad_inputs_exit_nonzero_with_one_sentence(tmp_path, run_inproc):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = run_inproc(f"paths.output_dir={afile}", cwd=tmp_path)
    assert result.returncode == 2 and "is an existing file, not a directory" in result.stderr
    result = run_inproc("data=mnist", f"paths.data_dir={tmp_path / 'nodata'}", "data.source.download=false",
                     f"paths.output_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: mnist: the files are not in" in result.stderr and "train-images-idx3-ubyte" in result.stderr
    assert "Traceback" not in result.stderr


def test_sample_grids_come_every_n_steps_not_every_epoch(make_cfg, tmp_path):
    # 128 training images in batches of 16: 8 steps an epoch; validation and a grid every 3 steps
    train(make_cfg(["trainer.max_steps=7", "trainer.val_check_interval=3"]))
    grids = sorted(p.name for p in (tmp_path / "run" / "samples").glob("*.png") if "reconstructions" not in p.name)
    assert grids == ["final.png", "step_0000003.png", "step_0000006.png"]
    assert compose_tiny([]).trainer.val_check_interval == 500  # the default, whatever an epoch's length


def test_export_safetensors_and_load_back(make_cfg, tmp_path):
    import json

    train(make_cfg(["model=vqvae", "data=digits", "trainer.max_steps=2"]))
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    folder = genlab.export(ckpt, tmp_path / "exported")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["genlab"]["class"] == "genlab.models.vqvae.VQVAE" and config["hyper_parameters"]["codebook_size"]
    a, b = genlab.load(ckpt), genlab.load(folder)
    assert torch.equal(a.generate(4, generator=0), b.generate(4, generator=0))
    assert torch.equal(genlab.load(folder / "model.safetensors").generate(2, generator=1), a.generate(2, generator=1))
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="unreadable export"):
        genlab.load(folder)
    with pytest.raises(CheckpointError, match="not a genlab export"):
        genlab.load(tmp_path)
