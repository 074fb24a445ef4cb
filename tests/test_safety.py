"""Atomic checkpoints, the divergence guard, and checkpoints that never hold non-finite weights."""

from __future__ import annotations

import pytest
import torch

from genlab.callbacks.divergence import DivergenceError
from genlab.train import build, train
from genlab.utils import files as files_module


def test_crash_between_write_and_rename_keeps_the_previous_checkpoint(make_cfg, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(make_cfg(["trainer.max_steps=2"]))
    last = out / "checkpoints" / "last.ckpt"
    before = torch.load(last, weights_only=True)
    assert before["global_step"] == 2

    def crash(src, dst):
        raise RuntimeError("simulated crash between write and rename")

    monkeypatch.setattr(files_module.os, "replace", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(make_cfg(["trainer.max_steps=4", "ckpt_path=last"]))
    after = torch.load(last, weights_only=True)  # intact and loadable
    assert after["global_step"] == 2
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    assert (out / "checkpoints" / "last.ckpt.tmp").exists()  # the half-finished write is beside it


@pytest.mark.parametrize("where", ["write", "rename"])
def test_disk_errors_keep_the_old_checkpoint_remove_the_partial_one_and_say_so(make_cfg, tmp_path, monkeypatch,
                                                                                where):
    import errno

    import pytorch_lightning

    from genlab.errors import GenlabError

    out = tmp_path / "run"
    train(make_cfg(["trainer.max_steps=2"]))
    last = out / "checkpoints" / "last.ckpt"
    before = torch.load(last, weights_only=True)

    def full(*args, **kwargs):
        if where == "write":
            open(args[0], "wb").write(b"partial")  # noqa: SIM115 - a half-written file, as a full disk leaves
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "write":
        monkeypatch.setattr(pytorch_lightning.Trainer, "save_checkpoint", lambda self, path, *a, **k: full(path))
    else:
        monkeypatch.setattr(files_module.os, "replace", full)
    with pytest.raises(GenlabError, match=r"could not write checkpoint .*last.ckpt at step 4 \(No space left on "
                                          r"device\); .*keeps the step it had; free disk space"):
        train(make_cfg(["trainer.max_steps=4", "ckpt_path=last"]))
    after = torch.load(last, weights_only=True)
    assert after["global_step"] == 2
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    assert not (out / "checkpoints" / "last.ckpt.tmp").exists()


def test_divergence_stops_with_step_and_loss_and_keeps_finite_weights(make_cfg, tmp_path):
    cfg = make_cfg(["trainer.max_steps=10", "callbacks.model_checkpoint.every_n_train_steps=2",
                    "+callbacks.poison._target_=crash_helper.PoisonAtStep", "+callbacks.poison.step=5"])
    with pytest.raises(DivergenceError, match=r"diverged at step 6: train/\S+ is nan.*last.ckpt keeps"):
        train(cfg)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4
    assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values() if t.is_floating_point())


def test_checkpoint_refuses_non_finite_weights(make_cfg, tmp_path):
    datamodule, model, trainer = build(make_cfg(["trainer.max_steps=1"]))
    trainer.fit(model, datamodule=datamodule)
    cb = trainer.checkpoint_callback
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    target = tmp_path / "x.ckpt"
    with pytest.warns(UserWarning, match="NaN or infinite"):
        cb._save_checkpoint(trainer, str(target))
    assert not target.exists()


def test_cli_divergence_exits_nonzero_with_one_line(tmp_path, run_inproc):
    r = run_inproc("model.generator.width=8", "model.discriminator.width=8", "data.source.num_train=64",
                   "data.batch_size=16", "trainer.max_steps=6", "+callbacks.poison._target_=crash_helper.PoisonAtStep",
                   "+callbacks.poison.step=3", f"paths.output_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert r.returncode == 2
    assert "error: training diverged at step 4" in r.stderr and "Traceback" not in r.stderr
