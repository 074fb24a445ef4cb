"""Options reach `generate`: `genlab.sample generate.NAME=`, the sample-grid callback, their refusals; the
VQ-VAE's tokenizer attributes."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import assert_one_sentence, cli, compose_tiny
from PIL import Image

import genlab
from genlab.errors import ConfigError
from genlab.utils.generate_options import generate_options


@pytest.fixture(scope="module")
def gan_export(tmp_path_factory):
    from genlab.models.gan import GAN

    torch.manual_seed(0)
    model = GAN(image_size=16, channels=1, latent_dim=16, generator={"width": 8}, discriminator={"width": 8})
    return genlab.export(model, tmp_path_factory.mktemp("gan") / "export")


class Plain:  # a model whose generate takes no options and that has no latent space (an autoregressive one)
    conditional = False

    def generate(self, n, condition=None, generator=None):
        return torch.zeros(n, 1, 4, 4)


class Sampler(Plain):  # one that takes options, and records them
    def __init__(self):
        self.calls = []

    def generate(self, n, condition=None, generator=None, temperature=1.0, top_k=None):
        self.calls.append({"n": n, "generator": generator, "temperature": temperature, "top_k": top_k})
        return torch.zeros(n, 1, 4, 4)


def pixels(path):
    return torch.tensor(list(Image.open(path).getdata()))


def sample(tmp_path, capsys, monkeypatch, *args):
    return cli("genlab.sample", *args, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)


def test_truncation_reaches_generate(gan_export, tmp_path, capsys, monkeypatch):
    from genlab.utils.images import save_grid

    for out, extra in (("plain.png", []), ("trunc.png", ["generate.truncation=0.5"])):  # no `+` needed
        code, _, err = sample(tmp_path, capsys, monkeypatch, f"ckpt_path={gan_export}", "num_samples=4",
                              f"out={out}", "seed=3", *extra)
        assert code == 0, err
    direct = genlab.load(gan_export).generate(4, generator=3, truncation=0.5)
    save_grid(direct, tmp_path / "direct.png")
    assert not torch.equal(pixels(tmp_path / "plain.png"), pixels(tmp_path / "trunc.png"))
    assert torch.equal(pixels(tmp_path / "trunc.png"), pixels(tmp_path / "direct.png"))


def test_unknown_or_bad_options_are_refused(gan_export, tmp_path, capsys, monkeypatch):
    ckpt = f"ckpt_path={gan_export}"
    for args, expected in (
        (["generate.top_k=5"], "generate.top_k is not an option of GAN.generate; it takes: truncation"),
        (["+generate.beam=2"], "generate.beam is not an option of GAN.generate; it takes: truncation"),
        (["generate.truncation=-1"], "generate.truncation=-1 must be a number >= 0.0 or null"),
        (["generate=3"], "generate=3 must be a mapping of option names to values"),
        (["mode=interpolate", "generate.truncation=0.5"],
         "generate.truncation= applies to mode=sample only; drop it for mode=interpolate"),
    ):
        code, _, err = sample(tmp_path, capsys, monkeypatch, ckpt, "out=x.png", *args)
        assert_one_sentence(code, err, expected)
    assert not list(tmp_path.iterdir())


def test_option_names_come_from_the_signature():
    assert generate_options(Sampler(), {"top_k": 5, "temperature": None}) == {"top_k": 5}  # null: the default
    assert generate_options(Plain(), None) == {} and generate_options(Plain(), {"top_p": None}) == {}
    with pytest.raises(ConfigError, match=r"^generate.top_p is not an option of Sampler.generate; it takes: "
                                          r"temperature, top_k$"):
        generate_options(Sampler(), {"top_p": 0.9})
    with pytest.raises(ConfigError, match="generate.truncation is not an option of Plain.generate; it takes no "
                                          "options; drop it"):
        generate_options(Plain(), {"truncation": 0.7})

    class Any(Plain):
        def generate(self, n, condition=None, generator=None, **options):
            return torch.zeros(n, 1, 4, 4)

    assert generate_options(Any(), {"whatever": 1}) == {"whatever": 1}
    with pytest.raises(ConfigError, match="generate.generator is not an option"):
        generate_options(Any(), {"generator": 1})


def test_interpolate_needs_a_latent_space(tmp_path, capsys, monkeypatch):
    from genlab.sample import check_mode

    with pytest.raises(ConfigError, match=r"^mode=interpolate needs a model with a latent space \(GAN, "
                                          r"autoencoders, VAEs\); Plain has none: use mode=sample$"):
        check_mode(Plain(), "interpolate", {})
    check_mode(Plain(), "sample", {})
    monkeypatch.setattr(sys.modules["genlab.load"], "load", lambda path, map_location="cpu": Plain())
    code, _, err = sample(tmp_path, capsys, monkeypatch, "ckpt_path=any.ckpt", "mode=interpolate", "out=i.png")
    assert_one_sentence(code, err, "Plain has none: use mode=sample")
    code, _, err = sample(tmp_path, capsys, monkeypatch, "ckpt_path=any.ckpt", "mode=traverse", "out=t.png")
    assert_one_sentence(code, err, "mode=traverse needs a model of the VAE family")
    assert not list(tmp_path.iterdir())


def test_sample_grid_passes_its_options(tmp_path):
    from omegaconf import OmegaConf

    from genlab.callbacks import SampleGrid

    trainer = SimpleNamespace(datamodule=None, loggers=[], callbacks=[], global_step=0, sanity_checking=False)
    model = Sampler()
    grid = SampleGrid(str(tmp_path), num_samples=4, seed=7, generate=OmegaConf.create({"top_k": 3, "temperature": None}))
    grid.on_fit_start(trainer, model)
    grid.on_fit_end(trainer, model)
    assert model.calls == [{"n": 4, "generator": 7, "temperature": 1.0, "top_k": 3}]
    assert (tmp_path / "final.png").exists()
    with pytest.raises(ConfigError, match="^callbacks.samples.generate.truncation is not an option of "
                                          "Sampler.generate; it takes: temperature, top_k$"):
        SampleGrid(str(tmp_path), generate={"truncation": 0.5}).on_fit_start(trainer, model)


def test_callback_config_takes_options_without_plus():
    from genlab.utils.config import make

    cfg = compose_tiny(["callbacks.samples.generate.truncation=0.5", "paths.output_dir=/tmp/unused"])
    grid = make(cfg.callbacks.samples)
    assert type(grid.generate) is dict and grid.generate["truncation"] == 0.5


def test_vqvae_token_grid_and_codebook_size():
    from genlab.models.vqvae import VQVAE

    model = VQVAE(image_size=32, downsample=2, codebook_size=64, width=8, code_dim=4)
    assert model.token_grid == (8, 8) and isinstance(model.token_grid[0], int) and model.codebook_size == 64
    assert "token_grid" not in model.hparams and not any("token_grid" in k for k in model.state_dict())
    idx = model.encode_to_indices(torch.randn(2, 3, 32, 32))
    assert idx.shape == (2, 8, 8) and int(idx.min()) >= 0 and int(idx.max()) < 64
