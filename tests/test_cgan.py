"""model=cgan: conditional batch norm generator, projection discriminator, the shared condition encoder
(trained by the discriminator), label and caption modes, EMA sampling, checkpoints."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Trainer

import genlab
from genlab.data import GenDataModule
from genlab.data.shapes import Shapes
from genlab.errors import ConfigError
from genlab.models.cgan import CGAN
from genlab.nets.cgan import ConditionalGenerator, ProjectionDiscriminator

TINY = dict(image_size=16, channels=3, latent_dim=16, generator={"width": 8}, discriminator={"width": 8}, num_classes=4,
            text_encoder={"_target_": "genlab.text.TransformerTextEncoder", "dim": 16, "layers": 1, "heads": 2})
STEPS = 4


def shapes_datamodule() -> GenDataModule:
    dm = GenDataModule(Shapes(image_size=16, num_train=64, num_val=16, num_heldout=0), image_size=16, channels=3,
                       batch_size=16)
    dm.setup()
    return dm


def fit(model, dm, steps=STEPS) -> Trainer:
    model.fit_to_data(dm)
    trainer = Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    return trainer


def conditions(model, dm, n=4):
    return model.condition_from_batch(dm.sample_batch("val", n))


@pytest.fixture(scope="module", params=["label", "caption"])
def trained(request):
    """A tiny CGAN trained for a few steps on shapes, conditioned on labels or captions, with what it started
    from: (model, trainer, datamodule, initial parameters)."""
    torch.manual_seed(0)
    dm = shapes_datamodule()
    model = CGAN(condition=request.param, ema_decay=0.9, **TINY)
    model.fit_to_data(dm)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer = fit(model, dm)
    return model.eval(), trainer, dm, before


def test_trains_and_generates(trained):
    model, trainer, dm, before = trained
    assert trainer.global_step == STEPS and model.conditions_on in ("label", "caption") and model.conditional
    changed = {k for k, v in model.named_parameters() if not torch.equal(before[k], v)}
    for part in ("generator.", "discriminator.", "condition_encoder."):
        assert any(k.startswith(part) for k in changed), part
    images = model.generate(4, condition=conditions(model, dm), generator=0)
    assert images.shape == (4, 3, 16, 16) and images.min() >= -1 and images.max() <= 1
    assert torch.isfinite(images).all()
    # the EMA pair samples: an average of the encoder too, not a copy
    enc, ema = dict(model.condition_encoder.named_parameters()), dict(model.encoder_ema.named_parameters())
    assert set(enc) == set(ema) and any(not torch.equal(enc[k], ema[k]) for k in enc)


def test_different_conditions_give_different_images(trained):
    model = trained[0]
    if model.conditions_on == "label":
        a, b = torch.tensor([0, 0, 0, 0]), torch.tensor([1, 2, 3, 1])
    else:
        a, b = ["a small red circle in the center"] * 4, ["a large blue square at the top left"] * 4
    same = model.generate(4, condition=a, generator=5)
    assert torch.equal(same, model.generate(4, condition=a, generator=5))
    other = model.generate(4, condition=b, generator=5)
    assert (same - other).abs().amax(dim=(1, 2, 3)).min() > 1e-3  # every row changes with its condition


def test_checkpoint_loads_and_generates_the_same_images(trained, tmp_path):
    model, trainer, dm, _ = trained
    path = tmp_path / "cgan.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["genlab"]["class"] == "genlab.models.cgan.CGAN"
    loaded = genlab.load(path)
    assert type(loaded) is CGAN and not loaded.training and loaded.conditions_on == model.conditions_on
    cond = conditions(model, dm, 5)
    assert torch.equal(model.generate(5, condition=cond, generator=7), loaded.generate(5, condition=cond, generator=7))
    if model.conditions_on == "caption":
        assert ckpt["hyper_parameters"]["tokenizer"]["kind"] == "word"


def test_validation_step_and_interpolation(trained):
    from genlab.sample import interpolate

    model, _, dm, _ = trained
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, limit_val_batches=1)
    trainer.validate(model, datamodule=dm, verbose=False)
    assert {"val/d_real", "val/d_fake"} <= set(trainer.callback_metrics)
    images = interpolate(model, 4, 2, conditions(model, dm, 2), seed=0)
    assert images.shape == (4, 3, 16, 16)


def test_unknown_word_in_a_prompt_is_named():
    dm = shapes_datamodule()
    model = CGAN(condition="caption", **TINY)
    model.fit_to_data(dm)
    with pytest.raises(ConfigError, match="'unicorn' is not in this model's vocabulary"):
        model.generate(2, condition=["a red circle", "a red unicorn"], generator=0)
    with pytest.raises(ConfigError, match="'unicorn'"):
        model.condition_from_prompts(["a unicorn"])
    with pytest.raises(ConfigError, match="pass condition="):
        model.generate(2, generator=0)
    with pytest.raises(ConfigError, match="got 1 conditions for 2 samples"):
        model.generate(2, condition=["a red circle"], generator=0)


def test_caption_model_needs_fitting_and_labels_need_classes():
    with pytest.raises(ConfigError, match="tokenizer is not fitted: call model.fit_to_data"):
        CGAN(condition="caption", **TINY).generate(1, condition=["a circle"])
    with pytest.raises(ConfigError, match="number of classes is not known: call model.fit_to_data"):
        CGAN(condition="label", **{**TINY, "num_classes": 0}).generate(1, condition=torch.tensor([0]))
    with pytest.raises(ConfigError, match="model.condition='word'"):
        CGAN(condition="word", **TINY)
    with pytest.raises(ConfigError, match=r"labels must be integers in 0\.\.3"):
        CGAN(condition="label", **TINY).generate(2, condition=torch.tensor([0, 4]))


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_projection_discriminator_depends_on_the_condition(spectral_norm):
    torch.manual_seed(0)
    d = ProjectionDiscriminator(8, 3, 16, 8, spectral_norm=spectral_norm, minibatch_std=True).eval()
    x, c = torch.randn(4, 3, 16, 16), torch.randn(4, 8)
    out = d(x, c)
    assert out.shape == (4,)
    assert (out - d(x, -c)).abs().min() > 1e-5
    # the projection term is exactly <V c, phi(x)>: zero condition leaves the unconditional head
    phi = d.body(x).flatten(1)
    assert torch.allclose(out - d(x, torch.zeros_like(c)), (d.project(c) * phi).sum(1), atol=1e-5)


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_conditional_generator_sizes_and_norms(norm):
    torch.manual_seed(0)
    g = ConditionalGenerator(16, 8, 1, 28, 8, norm)
    z, c = torch.randn(3, 16), torch.randn(3, 8)
    x = g(z, c)
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
    assert not torch.allclose(x, g(z, -c))
    with pytest.raises(ConfigError, match="normalisation 'layer' is not known"):
        ConditionalGenerator(16, 8, 1, 28, 8, "layer")


def test_encoder_is_trained_by_the_discriminator_only():
    torch.manual_seed(0)
    dm = shapes_datamodule()
    model = CGAN(condition="caption", **TINY)
    trainer = fit(model, dm, steps=1)
    opt_g, opt_d = (o.optimizer if hasattr(o, "optimizer") else o for o in trainer.optimizers)
    def ids(opt):
        return {id(p) for g in opt.param_groups for p in g["params"]}

    encoder = {id(p) for p in model.condition_encoder.parameters()}
    assert encoder <= ids(opt_d) and not encoder & ids(opt_g)
    # the generator's loss sends no gradient into the encoder
    model.zero_grad(set_to_none=True)
    batch = dm.sample_batch("train", 4)
    cond = model.training_condition(batch)
    model.generator_loss(model.fake_images(4, cond), cond).backward()
    assert all(p.grad is None for p in model.condition_encoder.parameters())
    assert any(p.grad is not None for p in model.generator.parameters())


@pytest.mark.parametrize("settings", [
    dict(loss="nonsaturating", r1_gamma=1.0, diffaugment="translation,cutout", n_dis=2),
    dict(loss="hinge", generator={"_target_": "genlab.nets.cgan.ConditionalGenerator", "width": 8, "norm": "none"},
         discriminator={"_target_": "genlab.nets.cgan.ProjectionDiscriminator", "width": 8, "norm": "batch",
                        "spectral_norm": False, "minibatch_std": True}, truncation=1.5),
    dict(loss="hinge", generator={"_target_": "genlab.nets.resnet.Generator", "width": 8},
         discriminator={"_target_": "genlab.nets.resnet.Discriminator", "width": 8, "minibatch_std": True}),
    dict(loss="wgan_gp", ema_decay=0.0, warmup_steps=2, lr_decay="cosine"),
])
def test_every_gan_option_trains(settings):
    torch.manual_seed(0)
    dm = shapes_datamodule()
    model = CGAN(condition="label", **{**TINY, **settings})
    trainer = fit(model, dm, steps=3)
    assert trainer.global_step == 3
    images = model.generate(3, condition=torch.tensor([0, 1, 2]), generator=0)
    assert images.shape == (3, 3, 16, 16) and torch.isfinite(images).all()


def test_conditional_accuracy_reads_the_condition_through_conditions_on():
    from genlab.metrics.conditional import conditional_accuracy
    from genlab.metrics.judges import load_judge
    from genlab.utils.config import compose_train, make

    dm = make(compose_train("data=digits").data)
    dm.setup()
    model = CGAN(**{**TINY, "image_size": 16, "channels": 1, "num_classes": 10}, condition="label").eval()
    model.fit_to_data(dm)
    result = conditional_accuracy(model, dm.datasets["val"], load_judge("digits"), dm.attribute_names, 20)
    assert set(result) == {"class", "joint", "num_images"} and 0 <= result["joint"] <= 1


def test_label_mode_takes_the_number_of_classes_from_the_data():
    from genlab.data.shapes import Shapes

    class NoClasses(Shapes):
        class_names = None

    model = CGAN(condition="label", **{**TINY, "num_classes": 0})
    assert model.condition_encoder is None
    model.fit_to_data(shapes_datamodule())
    assert model.hparams.num_classes == 4 and model.condition_encoder.num_classes == 4
    with pytest.raises(ConfigError, match="model.num_classes=3 but the data set has 4 classes"):
        CGAN(condition="label", **{**TINY, "num_classes": 3}).fit_to_data(shapes_datamodule())
    no_classes = GenDataModule(NoClasses(image_size=16, num_train=16, num_val=0, num_heldout=0), image_size=16,
                               channels=3)
    with pytest.raises(ConfigError, match="needs a data set with classes, and NoClasses has none"):
        CGAN(condition="label", **{**TINY, "num_classes": 0}).fit_to_data(no_classes)


def test_config_composes_with_either_text_encoder():
    from genlab.utils.config import compose_train

    cfg = compose_train("model=cgan", "data=digits")
    assert cfg.model.text_encoder._target_ == "genlab.text.TransformerTextEncoder" and cfg.model.num_classes == 0
    assert cfg.model.condition == "caption" and cfg.model.tokenizer is None
    cfg = compose_train("model=cgan", "data=digits", "model/text_encoder=minilm", "model.condition=label")
    assert cfg.model.text_encoder._target_ == "genlab.text.MiniLMEncoder" and cfg.model.condition == "label"


def test_resume_is_exact(tmp_path):
    """A run resumed from a mid-run checkpoint ends as the straight run does: the encoder in the
    discriminator's optimizer, its EMA and the fitted tokenizer all come back from the checkpoint."""
    import shutil

    from conftest import compose_tiny

    from genlab.callbacks.resume import checkpoint_differences
    from genlab.train import train

    common = ["model=cgan", "data=digits", "data.batch_size=16", "model.generator.width=8", "model.discriminator.width=8",
              "model.latent_dim=16", "model.text_encoder.dim=16", "model.text_encoder.layers=1", "callbacks=minimal",
              "logger=none", "trainer.limit_val_batches=0", "trainer.enable_model_summary=false",
              "callbacks.model_checkpoint.every_n_train_steps=1", "callbacks.model_checkpoint.save_top_k=-1"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(compose_tiny([*common, "trainer.max_steps=4", f"paths.output_dir={straight}"]))
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(straight / "config.yaml", resumed / "config.yaml")
    shutil.copy(straight / "checkpoints" / "step_0000002.ckpt", resumed / "checkpoints" / "last.ckpt")
    train(compose_tiny(["ckpt_path=last", f"paths.output_dir={resumed}"]), overrides=[])
    a, b = (torch.load(out / "checkpoints" / "last.ckpt", weights_only=True) for out in (straight, resumed))
    assert a["global_step"] == b["global_step"] == 4
    assert not checkpoint_differences(a, b)
    assert a["hyper_parameters"]["tokenizer"] == b["hyper_parameters"]["tokenizer"] is not None
