"""Distributed training keeps the guarantees of one process (docs/scaling.md), shown with 2 CPU processes
(`trainer=ddp_cpu`, gloo) launched as a user launches them (`python -m genlab.train`):

- 2 processes and 1 process on the same global batches end with the same weights (gan with DiffAugment and
  the WGAN-GP penalty, vqvae with codebook restarts, dalle with caption dropout);
- one run directory, one log, one set of checkpoints;
- a SIGTERM that reaches one rank stops both at the same step, and a run killed on every rank at once
  resumes to bit-identical weights.

64 training images in global batches of 16 (8 per process): 4 steps an epoch, 6 steps in all, in float64
(`trainer.precision=64-true`): in float32 the two summation orders of a gradient differ by 1e-7, and Adam's
first steps, which divide each gradient by its own size, turn that into a whole learning rate for the
elements whose gradient is nearly zero; in float64 the weights agree to 1e-9 (about 1e-11 seen).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, TINY, compose_tiny

from genlab.callbacks.resume import checkpoint_differences
from genlab.data.datamodule import SeededShuffle
from genlab.errors import ConfigError
from genlab.train import train
from genlab.utils.config import make

COMMON = [*TINY, "data.source.num_train=64", "data.source.num_val=16", "data.source.num_heldout=16",
          "callbacks.samples.num_samples=4", "trainer.max_steps=6",
          "callbacks.model_checkpoint.every_n_train_steps=2", "trainer.precision=64-true"]
MODELS = {
    "gan": ["model=gan", "model.generator.width=8", "model.discriminator.width=8", "model.latent_dim=16", "model.loss=wgan_gp",
            "model.diffaugment='color,translation,cutout'",
            "model.generator.norm=none", "model.discriminator.minibatch_std=false"],  # both see the batch on one device only
    "vqvae": ["model=vqvae", "model.width=8", "model.code_dim=8", "model.codebook_size=64",
              "model.ema_decay=0.3"],  # an unused code dies within 4 steps: restarts happen
    "dalle": ["model=dalle", "model.dim=32", "model.layers=1", "model.text_encoder.dim=32", "model.warmup_steps=0",
              "model.lr_decay=none"],  # caption dropout 0.1: steps where a rank drops none, and steps where it does
}


def ddp(out, *overrides, timeout: int = 120) -> subprocess.CompletedProcess:
    """`python -m genlab.train trainer=ddp_cpu ...` in a session of its own (a test may kill its group)."""
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "genlab.train", *overrides, f"paths.output_dir={out}"],
                          cwd=out.parent, capture_output=True, text=True, timeout=timeout, env=env,
                          start_new_session=True)


def last(out) -> dict:
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs(model) -> (single-process run dir, 2-process run dir), each trained once for the module."""
    done: dict = {}

    def get(model: str):
        if model not in done:
            root = tmp_path_factory.mktemp(model)
            extra = [f"model.tokenizer_ckpt={get('vqvae')[0] / 'checkpoints' / 'last.ckpt'}"] if model == "dalle" else []
            train(compose_tiny([*COMMON, *MODELS[model], *extra, f"paths.output_dir={root / 'single'}"]))
            result = ddp(root / "ddp", *COMMON, *MODELS[model], *extra, "trainer=ddp_cpu")
            assert result.returncode == 0, result.stderr[-3000:]
            done[model] = root / "single", root / "ddp"
        return done[model]

    return get


def test_the_ranks_share_each_global_batch_in_order():
    one = list(SeededShuffle(70, seed=3))
    ranks = [list(SeededShuffle(70, 3, rank, world=2, batch_size=8)) for rank in (0, 1)]
    assert [len(r) for r in ranks] == [32, 32]  # 4 global batches of 16; the last 6 indices dropped
    for t in range(4):
        assert ranks[0][8 * t:8 * t + 8] + ranks[1][8 * t:8 * t + 8] == one[16 * t:16 * t + 16]
    resumed = SeededShuffle(70, 3, 1, world=2, batch_size=8)
    resumed.skip = 16  # two batches of this rank consumed
    assert list(resumed) == ranks[1][16:] and list(resumed) == ranks[1]  # the skip holds for one pass


def test_the_global_batch_must_divide_among_the_processes():
    dm = make(compose_tiny(["data.source.num_train=64", "data.batch_size=16"]).data)
    dm.trainer = SimpleNamespace(global_rank=1, world_size=3)
    with pytest.raises(ConfigError, match=r"data.batch_size=16 is the global batch .* 3 processes; use a multiple of 3"):
        dm.train_dataloader()
    dm.trainer = SimpleNamespace(global_rank=1, world_size=2)
    loader = dm.train_dataloader()
    assert loader.batch_size == 8 and len(loader) == 4


@pytest.mark.parametrize("model", ["vqvae", "gan", "dalle"])  # dalle reuses the vqvae runs: each under a minute
def test_two_processes_train_the_weights_one_process_trains(model, runs):
    single, two = (last(out) for out in runs(model))
    assert single["global_step"] == two["global_step"] == 6 and single["epoch"] == two["epoch"] == 1
    a, b = single["state_dict"], two["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-7, atol=1e-9, msg=lambda m, k=key: f"{model} {k}: {m}")


def test_one_run_directory_one_log_one_set_of_checkpoints(runs):
    single, two = runs("gan")

    def listing(out):
        return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())

    assert listing(two) == listing(single)
    log = (two / "train.log").read_text()
    assert log.count("run directory") == 1 and log.count("Trained 6 steps.") == 1
    def rows(out):  # (epoch, step) of each logged row: every row once, on rank zero
        return [line.split(",")[:2] for line in (out / "logs" / "metrics.csv").read_text().splitlines()]

    assert rows(two) == rows(single) and len(rows(two)) > 6


def test_sigterm_to_one_rank_stops_both_at_one_step_and_the_run_resumes_exactly(tmp_path, runs):
    _, straight = runs("gan")
    out = tmp_path / "preempted"
    result = ddp(out, *COMMON, *MODELS["gan"], "trainer=ddp_cpu", "+callbacks.term._target_=crash_helper.SignalAtStep",
                 "+callbacks.term.step=2", "+callbacks.term.rank=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Preempted by SIGTERM at step 3" in result.stdout + result.stderr
    assert last(out)["global_step"] == 3
    result = ddp(out, "ckpt_path=last", "~callbacks.term")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not checkpoint_differences(last(straight), last(out))


def test_killed_on_every_rank_mid_epoch_the_run_resumes_exactly(tmp_path, runs):
    _, straight = runs("gan")
    out = tmp_path / "killed"
    result = ddp(out, *COMMON, *MODELS["gan"], "trainer=ddp_cpu", "+callbacks.kill._target_=crash_helper.KillGroupAtStep",
                 "+callbacks.kill.step=3")
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    saved = last(out)
    position = next(v for k, v in saved["callbacks"].items() if k.startswith("ResumeState"))
    assert saved["global_step"] == 2 and (position["epoch"], position["position"]) == (0, 2)  # batch 2 of 4
    result = ddp(out, "ckpt_path=last", "~callbacks.kill")
    assert result.returncode == 0, result.stderr[-3000:]
    different = checkpoint_differences(last(straight), last(out))
    assert not different, different[:5]
