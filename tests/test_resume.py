"""Exact resume: a run interrupted after a checkpoint and resumed ends bit-identical to an uninterrupted one
(weights, EMA, optimizer states, epoch counter), the resumed part crossing epoch boundaries.

64 training images in batches of 16: 4 steps an epoch, 11 steps in all. The cases, for a GAN (two
optimizers, n_dis=2, EMA), a VAE and a diffusion model (random timesteps and noise, EMA):
- mid_epoch: the checkpoint of step 6 (batch 2 of 4 of epoch 1);
- epoch_end: the checkpoint of step 4, written on the last batch of epoch 0;
- after_validation (GAN and VAE): killed with SIGKILL at step 5, after a checkpoint written when epoch 0's validation
  ended (Lightning's every_n_epochs saving) - a real process, killed for real;
- extension: a run that finished at step 6, extended to 11 with a larger max_steps.
A killed process leaves only its files, so the first two cases resume a run directory holding the
uninterrupted run's config and its checkpoint of that step (the straight run saves one every step).
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest
import torch
from conftest import ROOT, compose_tiny, run_cli

from genlab.callbacks.resume import checkpoint_differences
from genlab.train import train

COMMON = ["data.source.num_train=64", "data.source.num_val=16", "data.source.num_heldout=16", "data.batch_size=16",
          "callbacks.progress_bar=null", "callbacks.samples.num_samples=4", "trainer.limit_val_batches=1",
          "trainer.enable_model_summary=false", "trainer.val_check_interval=4"]  # validation at each epoch's end
MODELS = {"gan": ["model=gan", "model.generator.width=8", "model.discriminator.width=8", "model.latent_dim=16", "model.n_dis=2"],
          "vae": ["model=vae", "model.width=8", "model.latent_dim=8"],
          "diffusion": ["model=diffusion", "model.unet.widths=[8,16]", "model.unet.attention=[false,true]",
                        "model.unet.head_dim=8", "model.train_steps=20", "model.sample_steps=2"]}
KILLED = ["gan", "vae"]  # a real process killed costs seconds of start-up: two families show it
EVERY_STEP = ["callbacks.model_checkpoint.every_n_train_steps=1", "callbacks.model_checkpoint.save_top_k=-1"]


def run(out, *overrides):
    """genlab.train in this process (a new run, or `ckpt_path=last` for a resume of `out`)."""
    if "ckpt_path=last" in overrides:  # as the command line does: Hydra locates the run, genlab applies the rest
        cfg = compose_tiny(["ckpt_path=last", f"paths.output_dir={out}"])
        train(cfg, overrides=[o for o in overrides if o != "ckpt_path=last"])
    else:
        train(compose_tiny([*COMMON, *overrides, f"paths.output_dir={out}"]))
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted 11-step run of each model, with a checkpoint of every step."""
    done = {}

    def get(model):
        if model not in done:
            out = tmp_path_factory.mktemp(f"straight-{model}") / "run"
            done[model] = (out, run(out, *MODELS[model], "trainer.max_steps=11", *EVERY_STEP))
        return done[model]

    return get


def assert_identical(a: dict, b: dict, label: str) -> None:
    assert a["global_step"] == b["global_step"] == 11 and a["epoch"] == b["epoch"]
    different = checkpoint_differences(a, b)
    assert not different, f"{label}: differs in {different[:5]}"


@pytest.mark.parametrize("case,step", [("mid_epoch", 6), ("epoch_end", 4)])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_resumed_from_a_checkpoint_written_mid_epoch_or_at_an_epoch_end(tmp_path, model, case, step, straight):
    source, final = straight(model)
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    shutil.copy(source / "config.yaml", broken / "config.yaml")
    shutil.copy(source / "checkpoints" / f"step_{step:07d}.ckpt", broken / "checkpoints" / "last.ckpt")
    assert torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == step
    assert_identical(final, run(broken, "ckpt_path=last"), f"{model}/{case}")


@pytest.mark.parametrize("model", sorted(MODELS))
def test_extending_a_finished_run(tmp_path, model, straight):
    _, final = straight(model)
    out = tmp_path / "run"
    assert run(out, *MODELS[model], "trainer.max_steps=6", *EVERY_STEP)["global_step"] == 6
    assert_identical(final, run(out, "ckpt_path=last", "trainer.max_steps=11"), f"{model}/extension")


@pytest.mark.parametrize("model", KILLED)
def test_killed_after_a_checkpoint_written_when_validation_ended(tmp_path, model, straight):
    _, final = straight(model)
    broken = tmp_path / "broken"
    old = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{ROOT / 'tests'}{os.pathsep}{old}"  # crash_helper for the subprocess
    try:
        r = run_cli(*COMMON, *MODELS[model], "trainer.max_steps=11", f"paths.output_dir={broken}",
                    "callbacks.model_checkpoint.every_n_train_steps=null", "+callbacks.model_checkpoint.every_n_epochs=1",
                    "callbacks.model_checkpoint.save_top_k=-1", "+callbacks.crash._target_=crash_helper.KillAtStep",
                    "+callbacks.crash.step=5", cwd=tmp_path)
    finally:
        os.environ["PYTHONPATH"] = old
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    # the run's own config is resumed; ~ removes the crash callback it recorded
    assert_identical(final, run(broken, "ckpt_path=last", "~callbacks.crash"), f"{model}/after_validation")
