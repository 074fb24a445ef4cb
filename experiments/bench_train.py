"""Training throughput: genlab's training step (the Trainer and callbacks `python -m genlab.train` builds)
against a bare PyTorch loop with the same networks, data loader, batch size, optimisers and losses, in one
process, alternating, several rounds.

    python experiments/bench_train.py [--models gan vqvae] [--steps 60] [--rounds 3] [--batch-size 64]

Prints images/s of each per round and the ratio genlab / bare (goal: at least 0.97 on CPU). The first
`--warmup` steps of every run are not timed; sample grids and checkpoint files are off in both (their cost
is the same work in either), everything else genlab runs each step (the per-step seeding of exact resume,
the preemption check, progress log, divergence guard, metric logging) is timed.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from pytorch_lightning import Callback


class StepClock(Callback):
    """Seconds from the start of step `warmup` to the end of the last step."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.end = time.perf_counter()


def config(model: str, steps: int, batch_size: int):
    from genlab.utils.config import compose_train

    return compose_train(f"model={model}", "data=shapes", f"data.batch_size={batch_size}", f"trainer.max_steps={steps}",
                         "trainer.accelerator=cpu", "trainer.enable_model_summary=false", "trainer.limit_val_batches=0",
                         "callbacks.samples=null", "callbacks.progress_bar=null",
                         "callbacks.model_checkpoint.save_last=false", "callbacks.model_checkpoint.every_n_train_steps=null",
                         "logger=csv")


def genlab_run(model: str, steps: int, warmup: int, batch_size: int, out: str) -> float:
    from genlab.train import build

    cfg = config(model, steps, batch_size)
    cfg.paths.output_dir = out
    datamodule, module, trainer = build(cfg)
    clock = StepClock(warmup)
    trainer.callbacks.append(clock)
    module.fit_to_data(datamodule)
    trainer.fit(module, datamodule=datamodule)
    return (steps - warmup) * batch_size / (clock.end - clock.start)


def bare_gan_step(nets, opts, real):
    """GAN.training_step for the default gan (non-saturating loss, n_dis 1, EMA), written out."""
    g, d, g_ema, hp = nets
    opt_g, opt_d = opts
    z = torch.randn(real.shape[0], hp.latent_dim)
    fake = g(z)
    d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    d.requires_grad_(False)
    g_loss = F.softplus(-d(fake)).mean()
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    d.requires_grad_(True)
    with torch.no_grad():
        for a, p in zip(g_ema.parameters(), g.parameters()):
            a.lerp_(p, 1 - hp.ema_decay)
        for a, b in zip(g_ema.buffers(), g.buffers()):
            a.copy_(b)


def bare_vqvae_step(nets, opts, x):
    """VQVAE.training_step written out (the EMA codebook update is the quantizer's own, as in genlab)."""
    enc, quant, dec, hp = nets
    (opt,) = opts
    h = enc(x)
    flat = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
    q, _, stats = quant(flat)
    recon = dec(q.view(x.shape[0], h.shape[2], h.shape[3], -1).permute(0, 3, 1, 2).contiguous())
    loss = F.mse_loss(recon, x) + hp.commitment * stats["commitment"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bare_run(model: str, steps: int, warmup: int, batch_size: int) -> float:
    from genlab.models.base import build_optimizer
    from genlab.utils.config import make

    cfg = config(model, steps, batch_size)
    datamodule, module = make(cfg.data), make(cfg.model)
    hp = module.hparams
    if model == "gan":
        nets = (module.generator, module.discriminator, copy.deepcopy(module.generator).requires_grad_(False), hp)
        opts = (build_optimizer(hp.optim_g, nets[0].parameters()), build_optimizer(hp.optim_d, nets[1].parameters()))
        step_fn = bare_gan_step
    else:
        nets = (module.encoder, module.quantizer, module.decoder, hp)
        opts = (build_optimizer(hp.optimizer, list(nets[0].parameters()) + list(nets[2].parameters())),)
        step_fn = bare_vqvae_step
    loader, done, start = datamodule.train_dataloader(), 0, None
    while done < steps:
        for batch in loader:
            if done == warmup:
                start = time.perf_counter()
            step_fn(nets, opts, batch["image"])
            done += 1
            if done == steps:
                break
    return (steps - warmup) * batch_size / (time.perf_counter() - start)


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*", default=["gan", "vqvae"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    from genlab.train import quiet_known_noise

    quiet_known_noise()
    for model in args.models:
        ours, bare = [], []
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory() as out:
                ours.append(genlab_run(model, args.steps, args.warmup, args.batch_size, out))
            bare.append(bare_run(model, args.steps, args.warmup, args.batch_size))
            print(f"{model} round {r + 1}: genlab {ours[-1]:.0f} images/s, bare PyTorch {bare[-1]:.0f} images/s, "
                  f"ratio {ours[-1] / bare[-1]:.3f}", flush=True)
        print(f"{model}: median genlab {statistics.median(ours):.0f} images/s, bare {statistics.median(bare):.0f}, "
              f"ratio of medians {statistics.median(ours) / statistics.median(bare):.3f} (goal >= 0.97; "
              f"{torch.get_num_threads()} threads, batch {args.batch_size})")


if __name__ == "__main__":
    main()
