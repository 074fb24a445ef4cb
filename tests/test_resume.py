"""Exact resume: a run interrupted after a checkpoint (SIGKILL mid-epoch, at an epoch end, after validation,
or a finished run extended) and resumed ends bit-identical to an uninterrupted one (weights, EMA,
optimizer states, epoch counter), the resumed part crossing epoch boundaries."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from conftest import ROOT, run_cli

# 64 training images in batches of 16: 4 steps an epoch. Checkpoint at step 6 (epoch 1, batch 2 of 4),
# killed at the start of step 7, resumed to step 11 (through the end of epochs 1 and 2).
COMMON = ["data.source.num_train=64", "data.source.num_val=16", "data.batch_size=16", "trainer.max_steps=11",
          "callbacks.model_checkpoint.every_n_train_steps=6", "callbacks.progress_bar=null",
          "trainer.limit_val_batches=1"]
MODELS = {"gan": ["model=gan", "model.g_width=8", "model.d_width=8", "model.latent_dim=16", "model.n_dis=2"],
          "vae": ["model=vae", "model.width=8", "model.latent_dim=8"]}


def tensors(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from tensors(v, f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from tensors(v, f"{prefix}/{i}")


def cli(*args, cwd):
    """run_cli with tests/ importable (crash_helper) by the subprocess."""
    old = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{ROOT / 'tests'}{os.pathsep}{old}"
    try:
        return run_cli(*args, cwd=cwd)
    finally:
        os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted 11-step run of each model, trained once for every case below."""
    done = {}

    def get(model):
        if model not in done:
            out = tmp_path_factory.mktemp(f"straight-{model}") / "run"
            r = cli(*COMMON, *MODELS[model], f"paths.output_dir={out}", cwd=out.parent)
            assert r.returncode == 0, r.stderr[-2000:]
            done[model] = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
        return done[model]

    return get


# How each case interrupts the run: (extra settings of the first session, step of the checkpoint it leaves)
KILL = ["+callbacks.crash._target_=crash_helper.KillAtStep"]
CASES = {
    # written on batch 2 of 4 of epoch 1
    "mid_epoch": (["callbacks.model_checkpoint.every_n_train_steps=6", *KILL, "+callbacks.crash.step=6"], 6),
    # written on the last batch of epoch 0; validation and the next epoch's loader ran before the kill
    "epoch_end": (["callbacks.model_checkpoint.every_n_train_steps=4", *KILL, "+callbacks.crash.step=5"], 4),
    # written when epoch 0's validation ended (Lightning's every_n_epochs saving)
    "after_validation": (["callbacks.model_checkpoint.every_n_train_steps=null",
                          "+callbacks.model_checkpoint.every_n_epochs=1", "callbacks.model_checkpoint.save_top_k=-1",
                          *KILL, "+callbacks.crash.step=5"], 4),
    # a run that finished at step 6, extended to 11 with a larger max_steps
    "extension": (["trainer.max_steps=6"], 6),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, model, case, straight):
    first, saved_step = CASES[case]
    broken = tmp_path / "broken"
    r = cli(*COMMON, *MODELS[model], f"paths.output_dir={broken}", *first, cwd=tmp_path)
    assert r.returncode == (0 if case == "extension" else -signal.SIGKILL), r.stderr[-2000:]
    assert torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == saved_step
    # the run's own config is resumed; only what this command says changes
    resume = ["trainer.max_steps=11"] if case == "extension" else ["~callbacks.crash"]
    r = cli("ckpt_path=last", f"paths.output_dir={broken}", *resume, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    a = straight(model)
    b = torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 11 and a["epoch"] == b["epoch"]
    for part in ("state_dict", "optimizer_states"):
        ta, tb = dict(tensors(a[part])), dict(tensors(b[part]))
        assert ta.keys() == tb.keys() and ta
        different = [k for k in ta if not torch.equal(ta[k], tb[k])]
        assert not different, f"{model}/{case}: {part} differs in {different[:5]}"
