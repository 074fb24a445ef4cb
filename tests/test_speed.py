"""Speed options (docs/scaling.md) keep checkpoints, resume and EMA: `trainer.precision=bf16-mixed` (the
VQ codebook, the losses and the EMA in float32), `model.compile` (torch.compile in place: a checkpoint has
the plain model's names) and `model.channels_last`."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_tiny

import genlab
from genlab.callbacks.resume import checkpoint_differences
from genlab.errors import ConfigError
from genlab.nets.quantizer import EMAQuantizer
from genlab.train import train

COMMON = ["data.source.num_train=64", "data.source.num_val=16", "data.source.num_heldout=16", "data.batch_size=16",
          "data.num_workers=0", "trainer.accelerator=cpu", "trainer.limit_val_batches=1",
          "trainer.enable_model_summary=false", "callbacks.progress_bar=null", "callbacks.samples.num_samples=4"]
GAN = ["model=gan", "model.generator.width=8", "model.discriminator.width=8", "model.latent_dim=16"]
VQVAE = ["model=vqvae", "model.width=8", "model.code_dim=8", "model.codebook_size=16"]


def run(out, *overrides) -> dict:
    if "ckpt_path=last" in overrides:
        train(compose_tiny(["ckpt_path=last", f"paths.output_dir={out}"]),
              overrides=[o for o in overrides if o != "ckpt_path=last"])
    else:
        train(compose_tiny([*COMMON, *overrides, f"paths.output_dir={out}"]))
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


def test_the_codebook_picks_the_float32_codes_under_bf16_autocast():
    torch.manual_seed(0)
    quantizer = EMAQuantizer(512, 8).eval()
    z = (torch.randn(4096, 8) * 0.1).bfloat16()  # an encoder's output under bf16 autocast
    exact = quantizer(z.float())[1]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q, idx, _ = quantizer(z)
        in_bf16 = quantizer.distances(z.float()).argmin(1)  # what autocast would have computed
    assert q.dtype == torch.float32 and torch.equal(idx, exact)
    assert (in_bf16 == exact).float().mean() < 0.99  # the reason the quantizer leaves autocast


@pytest.mark.parametrize("model", ["gan", "vqvae"])
def test_bf16_mixed_trains_in_float32_weights_and_resumes_exactly(tmp_path, model):
    overrides = [*(GAN if model == "gan" else VQVAE), "trainer.precision=bf16-mixed"]
    straight = run(tmp_path / "straight", *overrides, "trainer.max_steps=5")
    assert all(v.dtype in (torch.float32, torch.int64) for v in straight["state_dict"].values())
    assert all(torch.isfinite(v).all() for v in straight["state_dict"].values() if v.is_floating_point())
    resumed = tmp_path / "resumed"
    assert run(resumed, *overrides, "trainer.max_steps=2")["global_step"] == 2
    different = checkpoint_differences(straight, run(resumed, "ckpt_path=last", "trainer.max_steps=5"))
    assert not different, different[:5]


def test_compiled_networks_keep_the_plain_names_and_resume_without_compiling(tmp_path):
    out = tmp_path / "run"
    ckpt = run(out, *GAN, "trainer.max_steps=2", "model.compile=eager")  # dynamo's tracing, no code generation
    plain = genlab.load(out / "checkpoints" / "last.ckpt")
    assert ckpt["state_dict"].keys() == plain.state_dict().keys()
    assert not any("_orig_mod" in k for k in ckpt["state_dict"])
    assert ckpt["hyper_parameters"]["compile"] == "eager"
    resumed = run(out, "ckpt_path=last", "trainer.max_steps=4", "model.compile=false")
    assert resumed["global_step"] == 4 and resumed["hyper_parameters"]["compile"] is False


def test_an_unknown_compile_backend_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="model.compile='fastest' is not a torch.compile backend"):
        run(tmp_path / "run", *GAN, "trainer.max_steps=1", "model.compile=fastest")


@pytest.mark.parametrize("model", ["gan", "vqvae"])
def test_channels_last_trains_convolutions_in_that_layout(tmp_path, model):
    out = tmp_path / "run"
    ckpt = run(out, *(GAN if model == "gan" else VQVAE), "trainer.max_steps=2", "model.channels_last=true")
    convs = [v for v in ckpt["state_dict"].values() if v.ndim == 4 and v.shape[-1] > 1]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)
    assert ckpt["hyper_parameters"]["channels_last"] is True
    images = genlab.load(out / "checkpoints" / "last.ckpt").generate(4, generator=0)
    assert images.shape == (4, 3, 32, 32) and torch.isfinite(images).all()
