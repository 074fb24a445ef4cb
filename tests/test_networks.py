"""A GAN's networks are config nodes: the ResNet and DCGAN choices at every size, conditional variants, the
checks on a node, and checkpoints saved before the networks were nodes."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import assert_one_sentence, cli, compose_tiny
from omegaconf import OmegaConf

import genlab
from genlab.errors import ConfigError
from genlab.models.cgan import CGAN
from genlab.models.gan import GAN
from genlab.nets import resnet
from genlab.nets.dcgan import batch_spread
from genlab.utils.resume_config import saved_config
from genlab.utils.trusted import UntrustedTargetError

RESNET = {"generator": {"_target_": "genlab.nets.resnet.Generator", "width": 8},
          "discriminator": {"_target_": "genlab.nets.resnet.Discriminator", "width": 8}}


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("cond_dim", [0, 6])
def test_resnet_networks_produce_and_judge_each_size(size, cond_dim):
    torch.manual_seed(0)
    g = resnet.Generator(16, 3, size, 8, cond_dim=cond_dim)
    d = resnet.Discriminator(3, size, 8, minibatch_std=True, cond_dim=cond_dim)
    cond = torch.randn(8, cond_dim) if cond_dim else None
    x = g(torch.randn(8, 16), cond)
    assert x.shape == (8, 3, size, size) and x.abs().max() <= 1 and x.std() > 0.01
    logits = d(x, cond)
    assert logits.shape == (8,) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())


def test_resnet_condition_changes_both_networks():
    torch.manual_seed(0)
    g, d = resnet.Generator(16, 3, 16, 8, cond_dim=4), resnet.Discriminator(3, 16, 8, cond_dim=4)
    for p in g.parameters():  # conditional gains start at zero: move them so the condition shows
        torch.nn.init.normal_(p, 0, 0.1)
    g.eval()
    z, a, b = torch.randn(4, 16), torch.randn(4, 4), torch.randn(4, 4)
    assert (g(z, a) - g(z, b)).abs().max() > 1e-3
    x = torch.randn(4, 3, 16, 16)
    assert (d(x, a) - d(x, b)).abs().max() > 1e-4


def test_resnet_discriminator_is_spectrally_normalised():
    d = resnet.Discriminator(3, 16, 8, spectral_norm=True, cond_dim=4)
    for _ in range(20):  # power iterations converge in training mode
        d(torch.randn(4, 3, 16, 16), torch.randn(4, 4))
    d.eval()
    for name, module in d.named_modules():
        if hasattr(module, "parametrizations"):
            sigma = float(torch.linalg.matrix_norm(module.weight.detach().flatten(1), ord=2))
            assert sigma == pytest.approx(1.0, abs=0.1), name
    assert sum(hasattr(m, "parametrizations") for m in d.modules()) == 2 * 3 + 2  # 2 blocks, head, projection


@pytest.mark.parametrize("model_cls", [GAN, CGAN])
def test_a_gan_trains_with_resnet_networks_and_generates(model_cls):
    torch.manual_seed(0)
    extra = {"condition": "label", "num_classes": 4} if model_cls is CGAN else {}
    model = model_cls(image_size=16, latent_dim=16, **RESNET, **extra)
    assert isinstance(model.generator, resnet.Generator) and isinstance(model.discriminator, resnet.Discriminator)
    condition = torch.tensor([0, 1, 2, 3]) if model_cls is CGAN else None
    images = model.generate(4, condition, generator=1)
    assert images.shape == (4, 3, 16, 16) and torch.equal(images, model.generate(4, condition, generator=1))


@pytest.mark.parametrize("node,match", [
    ({"_target_": "genlab.models.gan.GAN"}, "model.generator._target_='genlab.models.gan.GAN' is not a network"),
    ({"_target_": "torch.nn.Linear"}, "'torch.nn.Linear' is not a network class of genlab.nets"),
    ({"_target_": "genlab.nets.build.inspect"}, "is not a network class"),
    ({"_target_": "genlab.nets.resnet.Generator", "depth": 3}, ("model.generator.depth is not a setting of "
                                                                 "genlab.nets.resnet.Generator, which takes")),
    ({"_target_": "genlab.nets.resnet.Generator", "latent_dim": 3}, "model.generator.latent_dim is set by the model"),
    ("resnet", "model.generator must be a mapping with a _target_"),
])
def test_a_bad_network_node_is_named(node, match):
    with pytest.raises(ConfigError, match=match):
        GAN(image_size=16, generator=node)


def test_a_conditional_gan_refuses_a_network_without_a_condition():
    with pytest.raises(ConfigError, match="genlab.nets.dcgan.Generator takes no cond_dim, which this model passes"):
        CGAN(image_size=16, condition="label", num_classes=4, generator={"_target_": "genlab.nets.dcgan.Generator"})


def test_networks_are_chosen_on_the_command_line(tmp_path, capsys, monkeypatch):
    cfg = compose_tiny(["model=cgan", "model/generator=resnet", "model/discriminator=resnet"])
    assert cfg.model.generator._target_ == "genlab.nets.resnet.Generator"
    assert cfg.model.discriminator.spectral_norm is True
    code, _, err = cli("genlab.train", "model.g_width=8", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "model.g_width is now model.generator.width")
    code, _, err = cli("genlab.train", "model=cgan", "model/generator=dcgan", f"paths.output_dir={tmp_path / 'r'}",
                       "trainer.max_steps=1", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "model.generator._target_=genlab.nets.dcgan.Generator takes no cond_dim")


FLAT = {"g_width": 8, "d_width": 8, "g_norm": "batch", "d_norm": "none", "spectral_norm": True, "minibatch_std": True}


def as_saved_before(model) -> dict:
    """The model's hyperparameters as genlab saved them before the networks were config nodes."""
    hparams = {k: v for k, v in model.hparams.items() if k not in ("generator", "discriminator")}
    return {**hparams, **FLAT}


@pytest.mark.parametrize("model_cls", [GAN, CGAN])
def test_a_checkpoint_with_flat_network_settings_loads_the_same_networks(model_cls, tmp_path):
    torch.manual_seed(0)
    extra = {"condition": "label", "num_classes": 4} if model_cls is CGAN else {}
    targets = model_cls.legacy_networks  # the DCGAN networks every checkpoint of that time holds
    nets = {"generator": {"_target_": targets["generator"], "width": 8, "norm": "batch"},
            "discriminator": {"_target_": targets["discriminator"], "width": 8, "norm": "none", "spectral_norm": True,
                              "minibatch_std": True}}
    model = model_cls(image_size=16, latent_dim=16, **nets, **extra)
    folder = genlab.export(model, tmp_path / "new")
    config = json.loads((folder / "config.json").read_text())
    config["hyper_parameters"] = as_saved_before(model)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    (tmp_path / "old" / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    loaded = genlab.load(tmp_path / "old")
    assert dict(loaded.hparams)["generator"]["_target_"].startswith(("genlab.nets.dcgan.", "genlab.nets.cgan."))
    assert loaded.hparams.discriminator["minibatch_std"] is True and "g_width" not in loaded.hparams
    condition = torch.tensor([0, 1, 2, 3]) if model_cls is CGAN else None
    assert torch.equal(loaded.generate(4, condition, generator=3), model.eval().generate(4, condition, generator=3))


def test_an_old_checkpoint_naming_code_in_a_network_is_refused(tmp_path):
    marker = tmp_path / "marker"
    folder = genlab.export(GAN(image_size=16, latent_dim=16, generator={"width": 8}, discriminator={"width": 8}),
                           tmp_path / "gan")
    config = json.loads((folder / "config.json").read_text())
    config["hyper_parameters"]["generator"] = {"_target_": "torch.save", "obj": "x", "f": str(marker)}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UntrustedTargetError, match="generator._target_='torch.save'"):
        genlab.load(folder)
    assert not marker.exists()


def test_a_run_saved_with_flat_network_settings_resumes_with_nodes(tmp_path):
    cfg = OmegaConf.to_container(compose_tiny(["model=gan", "paths.output_dir=unused"]), resolve=True)
    cfg["model"] = {k: v for k, v in cfg["model"].items() if k not in ("generator", "discriminator")} | FLAT
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    model = saved_config(tmp_path)["model"]
    assert model["generator"] == {"_target_": "genlab.nets.dcgan.Generator", "width": 8, "norm": "batch"}
    assert model["discriminator"] == {"_target_": "genlab.nets.dcgan.Discriminator", "width": 8, "norm": "none",
                                      "spectral_norm": True, "minibatch_std": True}
    assert not set(FLAT) & set(model)


def test_resume_overrides_choose_groups_before_values_as_hydra_does():
    """`model.width=8 model=cvae` means width 8 whatever the order, on a resume as on a fresh run."""
    from genlab.utils.resume_config import apply_overrides

    for overrides in (["model.width=8", "model=cvae"], ["model=cvae", "model.width=8"]):
        cfg, given = apply_overrides({"model": {"_target_": "genlab.models.vae.VAE", "width": 16}}, overrides)
        assert cfg["model"]["_target_"] == "genlab.models.cvae.CVAE" and cfg["model"]["width"] == 8
        assert "model.width" in given


def test_minibatch_spread_has_finite_second_derivatives_where_samples_almost_agree():
    """std's second derivative overflows where a group of samples almost agrees; WGAN-GP and R1 differentiate
    the discriminator twice, so a mnist5k WGAN-GP run turned its generator NaN at step 1,286."""
    torch.manual_seed(0)
    h = torch.randn(8, 3, 4, 4)
    h[:, 0] = 1e-20 * torch.randn(8, 4, 4)  # one feature (nearly) the same in every sample
    h.requires_grad_(True)
    scale = torch.ones(1, requires_grad=True)
    spread = batch_spread(h * scale)
    assert spread.shape == (8, 1, 4, 4) and torch.isfinite(spread).all()
    (grad,) = torch.autograd.grad((spread * torch.randn(8, 1, 4, 4)).sum(), h, create_graph=True)
    grad.pow(2).sum().backward()  # what a gradient penalty does
    assert torch.isfinite(scale.grad).all() and torch.isfinite(h.grad).all() and float(scale.grad) != 0
