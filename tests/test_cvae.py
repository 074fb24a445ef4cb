"""model=cvae on the shared condition encoder (genlab.text): label and caption modes train, generate,
reconstruct and round-trip through a checkpoint; the posterior head and the decoder see the condition."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Trainer

import genlab
from genlab.data import GenDataModule
from genlab.data.shapes import Shapes
from genlab.errors import ConfigError
from genlab.models.cvae import CVAE

TINY = dict(image_size=16, channels=3, latent_dim=8, width=8, num_classes=4,
            text_encoder={"_target_": "genlab.text.TransformerTextEncoder", "dim": 16, "layers": 1, "heads": 2})
STEPS = 4


def shapes_datamodule() -> GenDataModule:
    dm = GenDataModule(Shapes(image_size=16, num_train=64, num_val=16, num_heldout=0), image_size=16, channels=3,
                       batch_size=16)
    dm.setup()
    return dm


@pytest.fixture(scope="module", params=["label", "caption"])
def trained(request):
    torch.manual_seed(0)
    dm = shapes_datamodule()
    model = CVAE(condition=request.param, **TINY)
    model.fit_to_data(dm)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer = Trainer(max_steps=STEPS, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    return model.eval(), trainer, dm, before


def test_trains_generates_and_reconstructs(trained):
    model, trainer, dm, before = trained
    assert trainer.global_step == STEPS and model.conditions_on in ("label", "caption")
    assert "vocabulary" not in model.hparams and "condition_dim" not in model.hparams
    assert model.condition_dim == 16
    changed = {k for k, v in model.named_parameters() if not torch.equal(before[k], v)}
    for part in ("image_encoder.", "decoder.", "posterior_head.", "condition_to_latent.", "condition_encoder."):
        assert any(k.startswith(part) for k in changed), part
    batch = dm.sample_batch("val", 4)
    cond = model.condition_from_batch(batch)
    images = model.generate(4, condition=cond, generator=0)
    assert images.shape == (4, 3, 16, 16) and images.min() >= -1 and images.max() <= 1
    assert model.reconstruct(batch["image"], cond).shape == (4, 3, 16, 16)


def test_posterior_and_decoder_see_the_condition(trained):
    model = trained[0]
    if model.conditions_on == "label":
        a, b = torch.tensor([0, 0, 0]), torch.tensor([1, 2, 3])
    else:
        a, b = ["a small red circle in the center"] * 3, ["a large blue square at the top left"] * 3
    x, z = torch.rand(3, 3, 16, 16) * 2 - 1, torch.randn(3, 8)
    with torch.no_grad():
        assert not torch.allclose(model.posterior(x, a)[0], model.posterior(x, b)[0])
        assert not torch.allclose(model.decode(z, a), model.decode(z, b))
    same = model.generate(3, condition=a, generator=5)
    assert torch.equal(same, model.generate(3, condition=a, generator=5))
    assert not torch.allclose(same, model.generate(3, condition=b, generator=5))


def test_checkpoint_loads_and_generates_the_same_images(trained, tmp_path):
    model, trainer, dm, _ = trained
    path = tmp_path / "cvae.ckpt"
    trainer.save_checkpoint(path)
    loaded = genlab.load(path)
    assert type(loaded) is CVAE and loaded.conditions_on == model.conditions_on
    cond = model.condition_from_batch(dm.sample_batch("val", 5))
    assert torch.equal(model.generate(5, condition=cond, generator=7), loaded.generate(5, condition=cond, generator=7))


def test_prompts_are_checked():
    dm = shapes_datamodule()
    model = CVAE(condition="caption", **TINY)
    model.fit_to_data(dm)
    with pytest.raises(ConfigError, match="the word 'unicorn' is not in this model's vocabulary"):
        model.generate(2, condition=["a red circle", "a red unicorn"], generator=0)
    with pytest.raises(ConfigError, match="'unicorn'"):
        model.condition_from_prompts(["a unicorn"])
    with pytest.raises(ConfigError, match="pass condition="):
        model.generate(2, generator=0)
    with pytest.raises(ConfigError, match="got 1 conditions for 2 samples"):
        model.generate(2, condition=["a red circle"], generator=0)
    labels = CVAE(condition="label", **TINY)
    with pytest.raises(ConfigError, match=r"labels must be integers in 0\.\.3"):
        labels.generate(2, condition=torch.tensor([0, 4]))
    with pytest.raises(ConfigError, match="give prompt=N with N in 0..3"):
        labels.condition_from_prompts(["three"])
    assert labels.condition_from_prompts(["3", "0"]).tolist() == [3, 0]


def test_bad_condition_settings():
    with pytest.raises(ConfigError, match="model.num_classes=-1 must be a whole number"):
        CVAE(condition="label", **{**TINY, "num_classes": -1})
    with pytest.raises(ConfigError, match="model.condition='word'"):
        CVAE(condition="word", **TINY)
