"""Bad inputs to genlab.train: one sentence on stderr (`error: ...`), exit status 2, no traceback, and
nothing written into the run directory (or the working directory). The command lines run in this process
(`cli` in conftest) so that dozens of cases take seconds."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_one_sentence, cli

RUN = ["model.generator.width=8", "model.discriminator.width=8", "data.batch_size=16", "callbacks.progress_bar=null"]


@pytest.mark.parametrize("arg,expected", [
    ("trainer.max_steps=2.5", "trainer.max_steps=2.5 must be an integer >= 1"),
    ("trainer.max_steps=0", "trainer.max_steps=0 must be an integer >= 1"),
    ("trainer.max_steps=-1", "trainer.max_steps=-1 must be an integer >= 1"),
    ("trainer.max_steps=abc", "trainer.max_steps='abc' must be an integer"),
    ("data.image_size=0", "data.image_size=0 must be an integer >= 1"),
    ("data.image_size=big", "data.image_size='big'"),
    ("model.latent_dim=0", "model.latent_dim=0 must be an integer >= 1"),
    ("model.latent_dim=1000000000000", "model.latent_dim=1000000000000 must be an integer >= 1 and <= 65536"),
    ("model.generator.width=-8", "model.generator.width=-8 must be an integer >= 1"),
    ("model.discriminator.width=3.5", "model.discriminator.width=3.5"),
    ("model.ema_decay=1.5", "model.ema_decay=1.5 must be a number >= 0.0 and < 1.0"),
    ("model.ema_decay=nan", "model.ema_decay=nan"),
    ("seed=-1", "seed=-1 must be an integer >= 0"),
    ("seed=1.5", "seed=1.5"),
    ("callbacks.model_checkpoint.every_n_train_steps=0", "every_n_train_steps=0 must be an integer >= 1 or null"),
    ("data.num_workers=-2", "data.num_workers=-2 must be an integer >= 0"),
    ("trainer.precision=17", "trainer.precision=17 must be one of"),
    ("data.batch_size=0", "data.batch_size=0 must be an integer >= 1"),
    ("paths.output_dir=/", "paths.output_dir=/ is the filesystem root"),
    ("ckpt_path=nowhere.ckpt", "ckpt_path=nowhere.ckpt does not exist"),
])
def test_bad_values(tmp_path, capsys, monkeypatch, arg, expected):
    out = tmp_path / "run"
    args = [*RUN, f"paths.output_dir={out}", arg] if not arg.startswith("paths.") else [*RUN, arg]
    code, _, err = cli("genlab.train", *args, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, expected)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_as_output_dir_quoted_or_not(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for arg in (f"paths.output_dir={afile}", f"paths.output_dir='{afile}'", f'paths.output_dir="{afile}"'):
        code, _, err = cli("genlab.train", *RUN, arg, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
        assert_one_sentence(code, err, "is an existing file, not a directory")
    assert afile.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_an_unwritable_output_dir(tmp_path, capsys, monkeypatch):
    # /sys refuses new folders even to root (a read-only place that chmod cannot fake for root)
    code, _, err = cli("genlab.train", *RUN, "paths.output_dir=/sys/genlab-run", cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "cannot create paths.output_dir=/sys/genlab-run", "choose a writable directory")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from conftest import compose_tiny

    from genlab.train import train

    out = tmp_path_factory.mktemp("train-inputs") / "run"
    train(compose_tiny([*RUN, "trainer.max_steps=1", "callbacks=minimal", f"paths.output_dir={out}"]))
    return out / "checkpoints" / "last.ckpt"


def crafted(kind: str, folder, ckpt):
    path = folder / f"{kind.replace(' ', '_')}.ckpt"
    good = ckpt.read_bytes()
    if kind == "zero bytes":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "text":
        path.write_text("model: gan\n")
    elif kind == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 0}, path)
    elif kind == "pickle payload":
        import pickle

        class Payload:
            def __reduce__(self):
                return (print, ("pwned",))

        path.write_bytes(pickle.dumps({"genlab": Payload()}))
    else:
        data = torch.load(ckpt, weights_only=True)
        if kind == "no class":
            del data["genlab"]["class"]
        elif kind == "class not a string":
            data["genlab"]["class"] = ["genlab.models.gan.GAN"]
        elif kind == "other model":
            data["genlab"]["class"] = "genlab.models.vae.VAE"
        elif kind == "other shapes":
            data["state_dict"] = {k: torch.zeros(3) if k.startswith("generator.") else v
                                  for k, v in data["state_dict"].items()}
        torch.save(data, path)
    return path


@pytest.mark.parametrize("kind,expected", [
    ("zero bytes", "is not a readable checkpoint"),
    ("truncated", "is not a readable checkpoint"),
    ("text", "is not a readable checkpoint"),
    ("foreign", "is not a genlab checkpoint"),
    ("pickle payload", "is not a readable checkpoint"),
    ("no class", "without a model class name"),
    ("class not a string", "without a model class name"),
    ("other model", "holds a VAE, but the configured model is a GAN"),
    ("other shapes", "does not fit the configured GAN"),
])
def test_bad_checkpoint_files(ckpt, tmp_path, capsys, monkeypatch, kind, expected):
    bad = crafted(kind, tmp_path, ckpt)
    out = tmp_path / "new"
    code, stdout, err = cli("genlab.train", *RUN, f"ckpt_path={bad}", f"paths.output_dir={out}",
                            cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, f"{bad}" if kind not in ("other model", "other shapes") else expected, expected)
    assert "pwned" not in stdout
    assert not out.exists()
