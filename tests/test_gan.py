"""GAN networks and training mechanics: sizes, losses, step counting, EMA, generate."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Trainer

from genlab.data import GenDataModule
from genlab.data.shapes import Shapes
from genlab.errors import ConfigError
from genlab.models.gan import GAN
from genlab.nets.dcgan import Discriminator, Generator

TINY = dict(latent_dim=16, generator={"width": 8}, discriminator={"width": 8})


@pytest.mark.parametrize("size", [16, 28, 32, 64])
def test_networks_produce_and_judge_each_size(size):
    g, d = Generator(16, 3, size, 8), Discriminator(3, size, 8, spectral_norm=True)
    x = g(torch.randn(5, 16))
    assert x.shape == (5, 3, size, size) and x.abs().max() <= 1
    assert d(x).shape == (5,)


@pytest.mark.parametrize("size", [30, 12 * 0 + 2, 100])
def test_impossible_image_size_is_a_clear_error(size):
    with pytest.raises(ConfigError, match=f"image size {size} cannot be produced.*data.image_size"):
        GAN(image_size=size, **TINY)


@pytest.mark.parametrize("kwargs,match", [
    (dict(loss="wasserstein"), "model.loss='wasserstein'"),
    (dict(n_dis=0), "model.n_dis=0"),
    (dict(optim_g={"_target_": "torch.optim.Adam", "lr": 0.0}), "model.optim_g.lr=0.0 must be a positive"),
    (dict(optim_d={"_target_": "torch.optim.Adam", "lr": -1e-4}), "model.optim_d.lr=-0.0001"),
    (dict(diffaugment="colour"), "model.diffaugment"),
    (dict(channels=0), "model.channels=0"),
])
def test_bad_settings_name_the_option(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GAN(**{**TINY, **kwargs})


def tiny_datamodule(n=64, batch_size=16):
    return GenDataModule(Shapes(image_size=16, num_train=n, num_val=16, num_heldout=0), image_size=16,
                         channels=3, batch_size=batch_size)


def fit(model, steps, **trainer_kwargs):
    trainer = Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      **trainer_kwargs)
    trainer.fit(model, datamodule=tiny_datamodule())
    return trainer


@pytest.mark.parametrize("n_dis", [1, 3])
def test_a_step_is_one_generator_update(n_dis):
    torch.manual_seed(0)
    model = GAN(image_size=16, n_dis=n_dis, **TINY)
    trainer = fit(model, 5)
    opt_g, opt_d = (o.optimizer if hasattr(o, "optimizer") else o for o in trainer.optimizers)
    g_steps = {int(s["step"]) for s in opt_g.state.values()}
    d_steps = {int(s["step"]) for s in opt_d.state.values()}
    assert trainer.global_step == 5
    assert g_steps == {5} and d_steps == {5 * n_dis}


@pytest.mark.parametrize("loss", ["nonsaturating", "hinge", "wgan_gp"])
def test_discriminator_loss_halves_on_a_fixed_batch(loss):
    torch.manual_seed(0)
    model = GAN(image_size=16, loss=loss, r1_gamma=0.0, **{**TINY, "discriminator": {"width": 8, "spectral_norm": False}})
    real = tiny_datamodule().sample_batch("train", 16)["image"]
    fake = model.generator(torch.randn(16, 16)).detach()
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3)
    losses = []
    for _ in range(60):
        d_loss, _ = model.discriminator_loss(real, fake)
        opt.zero_grad()
        d_loss.backward()
        opt.step()
        losses.append(float(d_loss))
    start, end = losses[0], losses[-1]
    if loss == "wgan_gp":  # unbounded below: require a clear fall instead of a ratio
        assert end < start - 1.0, losses
    else:
        assert end < 0.5 * start, losses


def test_r1_and_diffaugment_and_gp_terms_are_live():
    torch.manual_seed(0)
    model = GAN(image_size=16, r1_gamma=10.0, diffaugment="color,translation,cutout", **TINY)
    real = tiny_datamodule().sample_batch("train", 8)["image"]
    loss, logs = model.discriminator_loss(real, model.generator(torch.randn(8, 16)).detach())
    assert logs["r1"] > 0 and torch.isfinite(loss)
    gp = GAN(image_size=16, loss="wgan_gp", **TINY).gradient_penalty(real, real.flip(0))
    assert gp >= 0 and torch.isfinite(gp)


def test_ema_tracks_the_generator_only():
    torch.manual_seed(0)
    model = GAN(image_size=16, ema_decay=0.9, **TINY)
    d_before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    fit(model, 30)
    g = dict(model.generator.named_parameters())
    ema = dict(model.generator_ema.named_parameters())
    assert set(g) == set(ema)
    assert all(not p.requires_grad for p in ema.values())
    assert any(not torch.equal(g[k], ema[k]) for k in g)  # an average, not a copy
    assert max((g[k] - ema[k]).abs().max() for k in g) < 0.5  # but close to recent weights
    assert not any(k.startswith("discriminator") for k, _ in model.generator_ema.named_parameters())
    assert any(not torch.equal(d_before[k], v) for k, v in model.discriminator.state_dict().items())


def test_generate_contract():
    torch.manual_seed(0)
    model = GAN(image_size=16, **TINY).eval()
    a, b, c = model.generate(6, generator=1), model.generate(6, generator=1), model.generate(6, generator=2)
    assert a.shape == (6, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.allclose(a, c)
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(model.generate(6, generator=gen), a)
    assert torch.equal(model.generate(6, condition=["ignored"] * 6, generator=1), a)
    with pytest.raises(ConfigError, match="num_samples=0"):
        model.generate(0)


def test_truncation_bounds_the_latent():
    model = GAN(image_size=16, **TINY)
    z = model.sample_z(500, torch.Generator().manual_seed(0), truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2


def test_warmup_schedule_scales_learning_rates():
    torch.manual_seed(0)
    model = GAN(image_size=16, warmup_steps=10, lr_decay="linear", **TINY)
    trainer = fit(model, 5)
    lrs = [o.param_groups[0]["lr"] for o in trainer.optimizers]
    base = [model.hparams.optim_g["lr"], model.hparams.optim_d["lr"]]
    assert base == [2e-3, 2e-3] and lrs == pytest.approx([lr * 6 / 10 for lr in base])  # step 5 of a 10-step warm-up
