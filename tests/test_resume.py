"""Exact resume: killed with SIGKILL after a mid-epoch checkpoint, then resumed, a run ends bit-identical
to an uninterrupted one (weights, EMA, optimizer states), the resumed part crossing an epoch boundary."""

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


@pytest.mark.parametrize("model", sorted(MODELS))
def test_killed_and_resumed_run_is_bit_identical(tmp_path, model):
    env_path = f"{ROOT / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    os.environ["PYTHONPATH"] = env_path
    try:
        straight, broken = tmp_path / "straight", tmp_path / "broken"
        r = run_cli(*COMMON, *MODELS[model], f"paths.output_dir={straight}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        r = run_cli(*COMMON, *MODELS[model], f"paths.output_dir={broken}", "+callbacks.crash._target_=crash_helper.KillAtStep",
                    "+callbacks.crash.step=6", cwd=tmp_path)
        assert r.returncode == -signal.SIGKILL
        assert torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
        r = run_cli(*COMMON, *MODELS[model], f"paths.output_dir={broken}", "ckpt_path=last", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
    finally:
        os.environ["PYTHONPATH"] = env_path.split(os.pathsep, 1)[1]
    a = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 11 and a["epoch"] == b["epoch"]
    for part in ("state_dict", "optimizer_states"):
        ta, tb = dict(tensors(a[part])), dict(tensors(b[part]))
        assert ta.keys() == tb.keys() and ta
        different = [k for k in ta if not torch.equal(ta[k], tb[k])]
        assert not different, f"{model}: {part} differs in {different[:5]}"
