"""`model=dalle`: two stages in one command and one run directory, resumable at either stage; a stage-2
checkpoint complete on its own; prompts, guidance and sampling options through genlab.sample; every bad
input one sentence with exit code 2 and nothing half-written."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, TINY_SHAPES, assert_one_sentence, cli

import genlab
from genlab.models.dalle import DALLE
from genlab.models.vqvae import VQVAE
from genlab.utils.config import compose_train, make

TINY_DALLE = ["model.dim=32", "model.layers=1", "model.text_encoder.dim=16", "model.text_encoder.layers=1",
              "model.warmup_steps=0", "stage1.model.width=8", "stage1.model.code_dim=8",
              "stage1.model.codebook_size=16", "callbacks.samples.num_samples=4", *TINY, *TINY_SHAPES]
PROMPT = "a large blue triangle at the bottom right"


def tiny_dalle(stage1_dir, caption_dropout=0.1) -> DALLE:
    cfg = compose_train("model=dalle", "data=shapes", *TINY_SHAPES[:2])
    dm = make(cfg.data)
    torch.manual_seed(0)
    genlab.export(VQVAE(32, 3, codebook_size=16, code_dim=8, width=8), stage1_dir)
    model = DALLE(tokenizer_ckpt=str(stage1_dir), dim=32, layers=1, caption_dropout=caption_dropout,
                  text_encoder={"_target_": "genlab.text.TransformerTextEncoder", "dim": 16, "layers": 1,
                                "max_length": 12})
    model.fit_to_data(dm)
    return model.eval()


@pytest.fixture(scope="module")
def dalle_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dalle")
    return genlab.export(tiny_dalle(folder / "stage1"), folder / "export")


def test_two_stages_in_one_command_then_resume_either_stage(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    args = ["experiment=dalle_shapes", f"paths.output_dir={run}", *TINY_DALLE]
    # a bad stage-2 value is refused before stage 1 trains
    code, _, err = cli("genlab.train", *args, "stage1.max_steps=3", "trainer.max_steps=0", cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "trainer.max_steps=0")
    assert not run.exists()
    code, _, err = cli("genlab.train", *args, "stage1.max_steps=3", "trainer.max_steps=4", cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err
    assert (run / "stage1" / "checkpoints" / "last.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "stage1" / "config.yaml").is_file() and (run / "config.yaml").is_file()
    assert (run / "samples" / "final.png").is_file()
    s1 = torch.load(run / "stage1" / "checkpoints" / "last.ckpt", weights_only=True)
    s2 = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert s1["global_step"] == 3 and s2["global_step"] == 4
    assert s2["hyper_parameters"]["stage1"]["class"] == "genlab.models.vqvae.VQVAE"
    # the same command again is refused; resuming extends stage 2 and leaves the finished stage 1 alone
    code, _, err = cli("genlab.train", *args, "stage1.max_steps=3", "trainer.max_steps=4", cwd=tmp_path,
                       capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "already holds a run")
    code, _out, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={run}", "trainer.max_steps=6",
                         cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    assert torch.load(run / "stage1" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    # a longer stage 1 cannot change the stage 2 it already fed: refused (before stage 2, it may grow)
    code, _, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={run}", "stage1.max_steps=5",
                       cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "stage 2 has started from stage 1's checkpoint at step 3")
    assert torch.load(run / "stage1" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3


def test_a_run_stopped_in_stage_1_resumes_stage_1_then_trains_stage_2(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    args = ["experiment=dalle_shapes", f"paths.output_dir={run}", *TINY_DALLE, "trainer.max_steps=2"]
    # stage 1 stops at step 2 of 4 (max_steps lowered, as a preemption leaves it), before stage 2
    code, out, err = cli("genlab.train", *args, "stage1.max_steps=2", cwd=tmp_path, capsys=capsys,
                         monkeypatch=monkeypatch)
    assert code == 0, err
    (run / "checkpoints" / "last.ckpt").unlink()  # as if stage 2 never started
    code, out, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={run}", "stage1.max_steps=4",
                         cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err
    assert "stage 1 (VQVAE)" in out and "stage 2 (DALLE)" in out
    assert torch.load(run / "stage1" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert '"stage1.max_steps": [2, 4]' in (run / "resumes.jsonl").read_text()


def test_stage_2_resumed_mid_epoch_ends_bit_identical(tmp_path, capsys, monkeypatch):
    """The exact-resume guarantee for dalle: caption dropout, the EMA copies of the transformer and the
    text encoder, AdamW and the warm-up schedule all continue as if never stopped (4 steps an epoch: the
    checkpoint of step 5 is mid epoch 1, and the resumed part crosses into epoch 2)."""
    import shutil

    from genlab.callbacks.resume import checkpoint_differences

    straight, broken = tmp_path / "straight", tmp_path / "broken"
    code, _, err = cli("genlab.train", "experiment=dalle_shapes", f"paths.output_dir={straight}", *TINY_DALLE,
                       "data.source.num_train=64", "stage1.max_steps=2", "trainer.max_steps=9",
                       "model.warmup_steps=4", "model.lr_decay=cosine", "model.ema_decay=0.9",
                       "callbacks.model_checkpoint.every_n_train_steps=1", "callbacks.model_checkpoint.save_top_k=-1",
                       cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err
    shutil.copytree(straight, broken, ignore=shutil.ignore_patterns("*.ckpt", "samples"), dirs_exist_ok=True)
    shutil.copy(straight / "stage1" / "checkpoints" / "last.ckpt", broken / "stage1" / "checkpoints" / "last.ckpt")
    shutil.copy(straight / "checkpoints" / "step_0000005.ckpt", broken / "checkpoints" / "last.ckpt")
    code, _, err = cli("genlab.train", "ckpt_path=last", f"paths.output_dir={broken}", cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert code == 0, err
    final = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == resumed["global_step"] == 9 and final["epoch"] == 2
    assert any(k.startswith("prior_ema.") for k in final["state_dict"])
    different = checkpoint_differences(final, resumed)
    assert not different, sorted({k.split(".")[0] for k in different})


def test_the_learning_rate_schedule_moves_every_step(tmp_path):
    """Warm-up and decay count optimizer steps, not epochs (a bare scheduler in a Lightning module is
    stepped once an epoch: a 100-step warm-up then lasts 100 epochs)."""
    import pytorch_lightning as pl

    cfg = compose_train("model=dalle", "data=shapes", *TINY_SHAPES, "data.batch_size=16")
    dm = make(cfg.data)
    genlab.export(VQVAE(32, 3, codebook_size=16, code_dim=8, width=8), tmp_path / "stage1")
    model = DALLE(tokenizer_ckpt=str(tmp_path / "stage1"), dim=32, layers=1, warmup_steps=2, lr_decay="linear",
                  text_encoder={"_target_": "genlab.text.TransformerTextEncoder", "dim": 16, "layers": 1})
    model.fit_to_data(dm)
    seen = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, *_):
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    pl.Trainer(max_steps=6, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, limit_val_batches=0, callbacks=[Record()]).fit(model, dm)
    lr = model.hparams.optimizer["lr"]
    # all within epoch 0 (8 batches): warm-up 1/2, 2/2, then linear decay from step 2 to zero at step 6
    assert seen == pytest.approx([lr / 2, lr, lr, lr * 3 / 4, lr / 2, lr / 4], abs=1e-12)


def test_stage_2_checkpoint_loads_alone_and_samples_from_a_prompt(dalle_export, tmp_path, capsys, monkeypatch):
    import shutil

    shutil.rmtree(dalle_export.parent / "stage1")
    model = genlab.load(dalle_export)
    a = model.generate(3, [PROMPT] * 3, generator=1)
    assert a.shape == (3, 3, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, model.generate(3, [PROMPT] * 3, generator=1, use_cache=False))
    # guidance at scale 1 is the conditional model itself
    assert torch.equal(a, model.generate(3, [PROMPT] * 3, generator=1, guidance_scale=1))
    assert not torch.equal(a, model.generate(3, [PROMPT] * 3, generator=1, guidance_scale=3))
    code, _out, err = cli("genlab.sample", f"ckpt_path={dalle_export}", f'prompt="{PROMPT}"', "num_samples=4",
                         "generate.guidance_scale=3", "generate.top_k=8", "generate.top_p=0.9",
                         f"out={tmp_path / 'x.png'}", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err
    assert (tmp_path / "x.png").is_file()


@pytest.mark.parametrize(("args", "expected"), [
    (['prompt="a large purple hexagon"'], "'purple', 'hexagon' are not in this model's vocabulary"),
    (['prompt="a large blue triangle at the bottom right at the top left in the center"'],
     "longer than this model's text length of 12: it would be cut to"),
    (["prompt=x", "generate.top_k=0"], "generate.top_k=0 must be an integer from 1 to 16"),
    (["prompt=x", "generate.top_p=2"], "generate.top_p=2 must be in (0, 1]"),
    (["generate.guidance_scale=3"], "give prompt=... or prompts_file=..."),
])
def test_bad_prompts_and_options_are_one_sentence(dalle_export, tmp_path, capsys, monkeypatch, args, expected):
    if "prompt=x" in args:
        args = [f'prompt="{PROMPT}"', *args[1:]]
    code, _out, err = cli("genlab.sample", f"ckpt_path={dalle_export}", "num_samples=2", *args,
                         f"out={tmp_path / 'x.png'}", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_sentence(code, err, expected)
    assert not (tmp_path / "x.png").exists()


def test_guidance_needs_caption_dropout(tmp_path, capsys, monkeypatch):
    export = genlab.export(tiny_dalle(tmp_path / "stage1", caption_dropout=0.0), tmp_path / "export")
    code, _out, err = cli("genlab.sample", f"ckpt_path={export}", f'prompt="{PROMPT}"', "num_samples=2",
                         "generate.guidance_scale=3", f"out={tmp_path / 'x.png'}", cwd=tmp_path, capsys=capsys,
                         monkeypatch=monkeypatch)
    assert_one_sentence(code, err, "generate.guidance_scale=3 needs a model trained with caption dropout")


def test_bad_stage_1_is_one_sentence_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    from genlab.models.gan import GAN

    gan = genlab.export(GAN(image_size=32, channels=3, latent_dim=8, generator={"width": 8}, discriminator={"width": 8}), tmp_path / "gan")
    small = genlab.export(VQVAE(16, 3, codebook_size=16, code_dim=8, width=8), tmp_path / "vq16")
    cases = [([], "model=dalle needs a trained VQ-VAE as its image tokenizer"),
             ([f"model.tokenizer_ckpt={tmp_path / 'missing.ckpt'}"], "does not exist"),
             ([f"model.tokenizer_ckpt={gan}"], "holds a GAN, not a VQ-VAE"),
             ([f"model.tokenizer_ckpt={small}"], ("is a VQ-VAE for 16x16 images with 3 channel(s), but the data "
                                                "is 32x32"))]
    for extra, expected in cases:
        run = tmp_path / "run"
        code, _out, err = cli("genlab.train", "model=dalle", f"paths.output_dir={run}", *TINY, *TINY_SHAPES,
                             "model.dim=32", "model.layers=1", *extra, cwd=tmp_path, capsys=capsys,
                             monkeypatch=monkeypatch)
        assert_one_sentence(code, err, expected)
        assert not run.exists(), (expected, list(run.iterdir()))


def test_label_conditioned_dalle_uses_the_same_interface(tmp_path):
    cfg = compose_train("model=dalle", "data=shapes", *TINY_SHAPES[:2])
    dm = make(cfg.data)
    genlab.export(VQVAE(32, 3, codebook_size=16, code_dim=8, width=8), tmp_path / "stage1")
    model = DALLE(tokenizer_ckpt=str(tmp_path / "stage1"), condition="label", num_classes=4, dim=32, layers=1)
    model.fit_to_data(dm)
    assert model.conditions_on == "label" and model.text_length == 1 and model.hparams.tokenizer is None
    labels = model.condition_from_prompts(["0", "3"])
    a = model.eval().generate(2, labels, generator=0, guidance_scale=2)
    assert a.shape == (2, 3, 32, 32)
    assert torch.equal(a, model.generate(2, labels, generator=0, guidance_scale=2, use_cache=False))
    loaded = genlab.load(genlab.export(model, tmp_path / "export"))
    assert torch.equal(a, loaded.generate(2, labels, generator=0, guidance_scale=2))
