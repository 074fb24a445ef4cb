"""Bad inputs to genlab.sample, genlab.eval, genlab.load and data=folder: each ends in one sentence on stderr,
`error: ...`, exit status 2, no traceback and nothing written.

The command lines run in this process (`cli`), as `python -m MODULE ARGS` would run them, so that dozens
of cases take seconds; `test_real_command_lines` runs a few as real subprocesses.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, assert_one_sentence, cli, run_cli
from PIL import Image

import genlab
from genlab.errors import ConfigError, CorruptDataError, GenlabError
from genlab.load import CheckpointError

PROMPT = "prompt=a handwritten digit seven"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A real (Lightning-written) checkpoint of a tiny caption-conditioned CVAE on digits."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from genlab.train import train

    out = tmp_path_factory.mktemp("bad-inputs") / "run"
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, "model=cvae", "data=digits", "model.width=8", "model.latent_dim=8",
                                          "model.text_encoder.dim=8", "trainer.max_steps=1", "callbacks=minimal",
                                          f"paths.output_dir={out}"])
    GlobalHydra.instance().clear()
    train(cfg)
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory) -> Path:
    """200 random 16x16 grey PNGs: an images_dir for digits (whose val split has 180 images)."""
    folder = tmp_path_factory.mktemp("digit-pngs")
    rng = np.random.default_rng(0)
    for i in range(200):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return folder


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


# ---- genlab.sample ---------------------------------------------------------------------------------------
def test_sample_without_ckpt_path(tmp_path, capsys, monkeypatch):
    code, _, err = cli("genlab.sample", "num_samples=4", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "ckpt_path= is required")
    assert not files_under(tmp_path)


@pytest.mark.parametrize("args,expected", [
    (["num_samples=0"], "num_samples=0 must be an integer >= 1"),
    (["num_samples=-5"], "num_samples=-5 must be an integer >= 1"),
    (["num_samples=lots"], "num_samples='lots' must be an integer"),
    (["num_samples=2.5"], "num_samples=2.5 must be an integer"),
    (["num_samples=1000000000"], "num_samples=1000000000 must be an integer >= 1 and <= 100000"),
    (["mode=interpolate", "steps=0"], "steps=0 must be an integer >= 1"),
    (["mode=interpolate", "steps=many"], "steps='many' must be an integer"),
    (["nrow=0"], "nrow=0 must be an integer >= 1"),
    (["nrow=-2"], "nrow=-2 must be an integer >= 1"),
    (["nrow=wide"], "nrow='wide' must be an integer"),
    (["seed=-1"], "seed=-1 must be an integer >= 0"),
    (["seed=lucky"], "seed='lucky' must be an integer"),
    (["seed=4294967296"], "seed=4294967296 must be an integer >= 0 and <= 4294967295"),
    (["mode=traverse", "dims=0"], "dims=0 must be an integer >= 1"),
    (["mode=traverse", "dims=all"], "dims='all' must be an integer"),
    (["mode=traverse", "span=-1"], "span=-1 must be a number >= 0.0"),
    (["mode=traverse", "span=nan"], "span=nan must be a number"),
    (["mode=traverse", "span=wide"], "span='wide' must be a number"),
    (["mode=walk"], "mode='walk' must be one of ['sample', 'interpolate', 'traverse']"),
    (["out="], "out='' must be a non-empty path"),
    (["out=grid"], "out='grid' must end with"),
    (["out=afile/grid.png"], "cannot be written: afile is an existing file, not a directory"),
    (["out=afile/deeper/"], "cannot be written: afile is an existing file, not a directory"),
    (["out=afile/"], "out='afile/' ends with / (a folder) but afile is an existing file"),
    (["device=gpu"], "device='gpu' is not a device"),
    (["device=cuda"], "device='cuda' but this machine has no CUDA device; use device=cpu"),
    (["device=cuda:0"], "device='cuda:0' but this machine has no CUDA device; use device=cpu"),
    (["device=tpu:0"], "device='tpu:0' is not a device"),
])
def test_sample_bad_values(ckpt, tmp_path, capsys, monkeypatch, no_cuda, args, expected):
    (tmp_path / "afile").write_text("not a folder")
    before = files_under(tmp_path)
    code, _, err = cli("genlab.sample", f"ckpt_path={ckpt}", PROMPT, *args, cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert_one_sentence(code, err, expected)
    assert files_under(tmp_path) == before


def test_sample_into_an_existing_folder_without_trailing_slash(ckpt, tmp_path, capsys, monkeypatch):
    (tmp_path / "pngs").mkdir()
    code, out, err = cli("genlab.sample", f"ckpt_path={ckpt}", PROMPT, "num_samples=3", "out=pngs", cwd=tmp_path,
                         capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "wrote 3 images to" in out, err
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["0000.png", "0001.png", "0002.png"]


def test_sample_unknown_prompt_words(ckpt, tmp_path, capsys, monkeypatch):
    code, _, err = cli("genlab.sample", f"ckpt_path={ckpt}", "prompt=a handwritten purple unicorn", cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "'purple'", "'unicorn'", "digit")
    (tmp_path / "prompts.txt").write_text("a handwritten digit one\na handwritten digit eleven\n")
    code, _, err = cli("genlab.sample", f"ckpt_path={ckpt}", "prompts_file=prompts.txt", cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "'eleven'")
    assert not list(tmp_path.glob("*.png"))


def test_generate_refuses_unknown_words_but_not_the_data_sets_own(ckpt):
    model = genlab.load(ckpt)
    with pytest.raises(ConfigError, match="'unicorn'") as info:
        model.generate(2, condition=["a handwritten digit one", "a purple unicorn"], generator=0)
    assert "'purple'" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="'unicorn'"):
        model.condition_from_prompts(["unicorn"])
    # every caption of the data set (any split), punctuation and case aside, is known
    from genlab.utils.config import compose_train, make

    dm = make(compose_train("data=digits").data)
    dm.setup()
    captions = sorted({c for split in dm.datasets for c in dm.captions(split)})
    assert model.generate(len(captions), condition=[c.upper() + "!" for c in captions], generator=0).shape[0] == 10


def test_prompts_file_that_is_not_text(ckpt, tmp_path, capsys, monkeypatch):
    (tmp_path / "prompts.bin").write_bytes(b"\xff\xfe\x00\x81 not utf-8")
    (tmp_path / "prompts.d").mkdir()
    for name, expected in (("prompts.bin", "is not UTF-8 text"), ("prompts.d", "is a directory")):
        code, _, err = cli("genlab.sample", f"ckpt_path={ckpt}", f"prompts_file={name}", cwd=tmp_path,
                           capsys=capsys, monkeypatch=monkeypatch)
        assert_one_sentence(code, err, f"prompts_file={name}", expected)
    assert not list(tmp_path.glob("*.png"))


# ---- genlab.load, from Python and through genlab.sample ---------------------------------------------------
def bad_file(kind: str, folder: Path, ckpt: Path) -> tuple[Path, str]:
    """A bad thing to load, and a part of the sentence it must give."""
    if kind == "run directory":
        return ckpt.parent.parent, "is a run directory, not a checkpoint"
    path = folder / {"yaml": "config.yaml", "text": "notes.ckpt", "empty": "empty.ckpt", "truncated": "half.ckpt",
                     "binary": "random.ckpt", "export with a non-UTF-8 config.json": "export",
                     "export without weights": "export2"}[kind]
    if kind == "yaml":
        path.write_text("model:\n  _target_: genlab.models.gan.GAN\nseed: 0\n")
    elif kind == "text":
        path.write_text("these are my notes, not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = ckpt.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "binary":
        path.write_bytes(bytes(np.random.default_rng(0).integers(128, 256, 4096, dtype=np.uint8)))
    elif kind.startswith("export"):
        genlab.export(ckpt, path)
        if "config" in kind:
            (path / "config.json").write_bytes(b"\xff\xfe{\x00\x81 broken")
        else:
            (path / "model.safetensors").unlink()
    return path, {"truncated": "is not a readable checkpoint", "yaml": "is not a readable checkpoint",
                  "text": "is not a readable checkpoint", "empty": "is not a readable checkpoint",
                  "binary": "is not a readable checkpoint",
                  "export with a non-UTF-8 config.json": "holds an unreadable export",
                  "export without weights": "is not a genlab export"}[kind]


LOAD_CASES = ["run directory", "yaml", "text", "empty", "truncated", "binary", "export with a non-UTF-8 config.json",
              "export without weights"]


@pytest.mark.parametrize("kind", LOAD_CASES)
def test_load_bad_files(ckpt, tmp_path, capsys, monkeypatch, kind):
    (tmp_path / "files").mkdir()
    path, expected = bad_file(kind, tmp_path / "files", ckpt)
    with pytest.raises(CheckpointError) as info:
        genlab.load(path)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message and len(message) < 400, message
    before = files_under(tmp_path)
    code, _, err = cli("genlab.sample", f"ckpt_path={path}", PROMPT, cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert_one_sentence(code, err, expected, str(path))
    assert files_under(tmp_path) == before


def test_load_onto_a_missing_device(ckpt, no_cuda):
    with pytest.raises(ConfigError, match="map_location='cuda' but this machine has no CUDA device"):
        genlab.load(ckpt, map_location="cuda")
    with pytest.raises(ConfigError, match="map_location='gpu' is not a device"):
        genlab.load(ckpt, map_location="gpu")
    assert genlab.load(ckpt, map_location=torch.device("cpu")).device.type == "cpu"


# ---- genlab.eval -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,expected", [
    (["batch_size=0"], "batch_size=0 must be an integer >= 1"),
    (["batch_size=big"], "batch_size='big' must be an integer"),
    (["seed=-1"], "seed=-1 must be an integer >= 0"),
    (["seed=1.5"], "seed=1.5 must be an integer"),
    (["num_samples=1"], "num_samples=1 must be an integer >= 2"),
    (["num_samples=all"], "num_samples='all' must be an integer"),
    (["is_splits=0", "metrics=[is]"], "is_splits=0 must be an integer >= 1"),
    (["is_splits=ten", "metrics=[is]"], "is_splits='ten' must be an integer"),
    (["metrics=[fid,lpips]"], "metrics=['fid', 'lpips'] must be a non-empty list of"),
    (["metrics=[]"], "metrics=[] must be a non-empty list of"),
    (["feature_extractor=clip"], "feature_extractor='clip' must be one of ['judge', 'inception']"),
    (["device=gpu"], "device='gpu' is not a device"),
    (["device=cuda"], "device='cuda' but this machine has no CUDA device; use device=cpu"),
    (["device=cuda:0"], "device='cuda:0' but this machine has no CUDA device; use device=cpu"),
    (["out="], "out='' must be a non-empty path"),
    (["out=afile/m.json"], "cannot be written: afile is an existing file, not a directory"),
    (["out=adir"], "out='adir' is an existing directory"),
    (["dataset=nope"], "dataset=nope is not a data config; use one of ['celeba', 'cifar10', 'digits'"),
    (["dataset=folder"], "dataset=folder needs data.root: give it as data_root=PATH"),
    (["dataset=folder", "data_root=adir"], "folder: no images"),  # data_root reached the folder source
])
def test_eval_bad_values(digit_pngs, tmp_path, capsys, monkeypatch, no_cuda, args, expected):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "adir").mkdir()
    before = files_under(tmp_path)
    code, _, err = cli("genlab.eval", f"images_dir={digit_pngs}", "dataset=digits", *args, cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, expected)
    assert files_under(tmp_path) == before


def test_eval_on_a_missing_device_with_a_checkpoint(ckpt, tmp_path, capsys, monkeypatch, no_cuda):
    code, _, err = cli("genlab.eval", f"ckpt_path={ckpt}", "device=cuda", cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "device='cuda' but this machine has no CUDA device; use device=cpu")
    assert not files_under(tmp_path)


def test_eval_corrupt_png_in_images_dir(tmp_path, capsys, monkeypatch):
    (tmp_path / "pngs").mkdir()
    Image.new("L", (16, 16)).save(tmp_path / "pngs" / "good.png")
    (tmp_path / "pngs" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    code, _, err = cli("genlab.eval", "images_dir=pngs", "dataset=digits", cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "cannot read image", "bad.png")
    assert not (tmp_path / "metrics.json").exists()


def test_eval_says_when_it_uses_fewer_images_than_asked(digit_pngs, tmp_path, capsys, monkeypatch):
    # a default evaluation on digits: 1000 asked, the val split has 180
    code, out, err = cli("genlab.eval", f"images_dir={digit_pngs}", "dataset=digits", cwd=tmp_path, capsys=capsys,
                         monkeypatch=monkeypatch)
    assert code == 0 and "(180 images, judge features, Digits val)" in out, err
    assert "note: num_samples=1000 but the val split has 180 images: evaluating 180 (" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["num_images"] == 180 and result["num_samples_requested"] == 1000 and result["fid"] > 0
    # fewer generated images than real ones
    few = tmp_path / "few"
    few.mkdir()
    for p in sorted(digit_pngs.iterdir())[:20]:
        (few / p.name).write_bytes(p.read_bytes())
    code, out, err = cli("genlab.eval", "images_dir=few", "dataset=digits", "num_samples=100", "out=few.json",
                         cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "(20 images," in out, err
    assert "note: num_samples=100 but images_dir=few has 20 images: evaluating 20 (" in err
    result = json.loads((tmp_path / "few.json").read_text())
    assert result["num_images"] == 20 and result["num_samples_requested"] == 100
    # no note when every image asked for is used
    code, out, err = cli("genlab.eval", "images_dir=few", "dataset=digits", "num_samples=20", "out=all.json",
                         cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "note:" not in err and "(20 images," in out, err


# ---- data=folder -----------------------------------------------------------------------------------------
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb(path: Path, side: int = 100_000) -> None:
    """A 100-byte PNG whose header claims side x side pixels (10^10: a decompression bomb to PIL)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 8))
                     + png_chunk(b"IEND", b""))


def image_folder(root: Path, n: int = 4) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (12, 12), (40 * i, 0, 0)).save(root / f"{i}.png")
    return root


def test_folder_decompression_bomb_is_a_corrupt_image(tmp_path):
    from genlab.data.folder import Folder

    root = image_folder(tmp_path / "imgs")
    write_bomb(root / "bomb.png")
    with pytest.raises(CorruptDataError, match="cannot read image .*bomb.png.*skip_corrupt=true") as info:
        Folder(str(root))
    assert "\n" not in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
        src = Folder(str(root), skip_corrupt=True)
    assert [p.name for p in src.files] == ["0.png", "1.png", "2.png", "3.png"]


def test_folder_bomb_below_pils_limit_made_low(tmp_path, monkeypatch):
    from genlab.data.folder import Folder

    root = image_folder(tmp_path / "imgs")
    Image.new("RGB", (64, 64)).save(root / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 > 2 x 1000: a bomb; 12x12 is not
    with pytest.raises(CorruptDataError, match="big.png"):
        Folder(str(root))


@pytest.mark.parametrize("kind", ["not UTF-8", "a directory"])
def test_folder_unreadable_captions_file(tmp_path, kind):
    from genlab.data.folder import Folder

    root = image_folder(tmp_path / "imgs")
    if kind == "a directory":
        (root / "captions.jsonl").mkdir()
        expected = "captions.jsonl is a directory"
    else:
        (root / "captions.jsonl").write_bytes(b'{"file": "0.png", "caption": "caf\xe9"}\n')
        expected = "captions.jsonl is not UTF-8 text"
    with pytest.raises(GenlabError, match=expected) as info:
        Folder(str(root))
    assert str(root / "captions.jsonl") in str(info.value) and "\n" not in str(info.value)


def train_args(tmp_path: Path, *args: str) -> list[str]:
    return [*TINY, "model.width=8", "model.latent_dim=8", "model.text_encoder.dim=8", "trainer.max_steps=1",
            "callbacks=minimal", "logger=none", f"paths.output_dir={tmp_path / 'run'}", *args]


def test_folder_errors_through_genlab_train(tmp_path, capsys, monkeypatch):
    root = image_folder(tmp_path / "imgs", n=8)
    write_bomb(root / "bomb.png")
    code, _, err = cli("genlab.train", *train_args(tmp_path, "model=cvae", "data=folder", f"data.root={root}"),
                       cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "cannot read image", "bomb.png")
    (root / "bomb.png").unlink()
    (root / "captions.jsonl").write_bytes(b"\xff\xfe")
    code, _, err = cli("genlab.train", *train_args(tmp_path, "model=cvae", "data=folder", f"data.root={root}"),
                       cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "captions.jsonl is not UTF-8 text")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("captions", [None, ["", "  ", "", "", "", "", "", ""]])
def test_caption_model_on_a_data_set_without_captions(tmp_path, capsys, monkeypatch, captions):
    root = image_folder(tmp_path / "imgs", n=8)
    if captions is not None:
        (root / "captions.jsonl").write_text("".join(json.dumps({"file": f"{i}.png", "caption": c}) + "\n"
                                                     for i, c in enumerate(captions)))
    code, _, err = cli("genlab.train", *train_args(tmp_path, "model=cvae", "data=folder", f"data.root={root}"),
                       cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "every training caption is empty", "model.condition=label")
    assert not list((tmp_path / "run").rglob("*.ckpt"))


def test_caption_tokenizer_is_fitted_on_the_training_captions(tmp_path):
    """`fit_to_data` fits the tokenizer on the training captions (no setup() reading the trainer's data); a
    prompt with a word only the val split has is refused, naming the word."""
    from genlab.data import GenDataModule
    from genlab.data.folder import Folder
    from genlab.models.cvae import CVAE

    root = image_folder(tmp_path / "imgs", n=10)
    (root / "captions.jsonl").write_text("".join(json.dumps({"file": f"{i}.png", "caption": f"a word{i}"}) + "\n"
                                                 for i in range(10)))
    dm = GenDataModule(Folder(str(root), image_size=8), image_size=8, channels=3, batch_size=2, val_fraction=0.3)
    dm.setup()
    model = CVAE(image_size=8, channels=3, latent_dim=4, width=8,
                 text_encoder={"_target_": "genlab.text.TransformerTextEncoder", "dim": 8, "layers": 1, "heads": 2})
    with pytest.raises(ConfigError, match="tokenizer is not fitted"):
        model.generate(2, condition=["a word0", "a word1"], generator=0)
    model.fit_to_data(dm)
    train, val = dm.captions("train"), dm.captions("val")
    assert set(model.hparams.tokenizer["vocabulary"]) == {"<pad>", "<unk>", "a", *(c.split()[1] for c in train)}
    assert model.generate(2, condition=train[:2], generator=0).shape == (2, 3, 8, 8)
    with pytest.raises(ConfigError, match=f"the word '{val[0].split()[1]}' is not in this model's vocabulary"):
        model.generate(1, condition=val[:1], generator=0)


# ---- the same, as real command lines ---------------------------------------------------------------------
def test_a_real_command_line(ckpt, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    # one real process (each costs seconds of imports); the in-process tests above cover every message
    r = run_cli("--module=genlab.sample", f"ckpt_path={ckpt}", PROMPT, "device=cuda", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == "error: device='cuda' but this machine has no CUDA device; use device=cpu"
    assert not files_under(tmp_path)
