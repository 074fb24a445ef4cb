"""Exact-resume trials: interrupt tiny runs at random steps in random ways, resume, compare bit for bit.

    python experiments/resume_trials.py [--trials 24] [--seed 0] [--out DIR]

Each trial picks a model (GAN with n_dis=2 and EMA, or VAE), a checkpoint interval, and a way to stop:
SIGKILL at a random step (often right after an epoch's last batch), SIGTERM or SIGINT at a random step
(genlab's Preemption saves last.ckpt after the current step), or a run that finishes early and is
extended with a larger max_steps. The run is resumed with `ckpt_path=last` and must end bit-identical
(every tensor of the weights and optimizer states, and the epoch counter) to an uninterrupted run of the
same length. Prints one line per trial and the count of exact trials, overall and at epoch ends.

4 batches an epoch: a checkpoint at a step divisible by 4 was written on the last batch of an epoch.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from genlab.callbacks.resume import checkpoint_differences

ROOT = Path(__file__).resolve().parents[1]
STEPS, PER_EPOCH = 13, 4
COMMON = ["data.source.num_train=64", "data.source.num_val=16", "data.batch_size=16", "callbacks.progress_bar=null",
          "trainer.limit_val_batches=1", "callbacks.samples.num_samples=4"]
MODELS = {"gan": ["model=gan", "model.generator.width=8", "model.discriminator.width=8", "model.latent_dim=16", "model.n_dis=2"],
          "vae": ["model=vae", "model.width=8", "model.latent_dim=8"]}
SIGNAL_AT_STEP = '''
import os, signal
from pytorch_lightning import Callback
class SignalAtStep(Callback):
    def __init__(self, step, signame):
        self.step, self.signame = step, signame
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), getattr(signal, self.signame))
'''


def train(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genlab.train", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def same(a: Path, b: Path) -> tuple[bool, str]:
    x, y = (torch.load(p / "checkpoints" / "last.ckpt", weights_only=True) for p in (a, b))
    different = checkpoint_differences(x, y)
    return not different, f"{len(different)} differences, e.g. {different[:1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.out or Path(tempfile.mkdtemp(prefix="resume-trials-"))
    (work / "helper").mkdir(parents=True, exist_ok=True)
    (work / "helper" / "trial_helper.py").write_text(SIGNAL_AT_STEP)
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": f"{work / 'helper'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "GENLAB_TRUSTED_TARGETS": "trial_helper.SignalAtStep"}
    straight = {}
    for model, settings in MODELS.items():
        straight[model] = work / f"straight-{model}"
        if not (straight[model] / "checkpoints" / "last.ckpt").exists():
            r = train(*COMMON, *settings, f"trainer.max_steps={STEPS}", f"paths.output_dir={straight[model]}",
                      env=env)
            assert r.returncode == 0, r.stderr[-2000:]

    tried = exact = at_epoch_end = exact_at_epoch_end = 0
    t0 = time.time()
    for trial in range(args.trials):
        model = rng.choice(sorted(MODELS))
        how = rng.choice(["SIGKILL", "SIGTERM", "SIGINT", "extend"])
        every = rng.choice([2, 3, 4, 5])
        run = work / f"trial-{trial:03d}"
        base = [*COMMON, *MODELS[model], f"paths.output_dir={run}",
                f"callbacks.model_checkpoint.every_n_train_steps={every}"]
        if how == "extend":
            first = rng.randint(1, STEPS - 1)
            r = train(*base, f"trainer.max_steps={first}", env=env)
            resume = [f"trainer.max_steps={STEPS}"]
        else:
            stop = rng.randint(2, STEPS - 1)
            r = train(*base, f"trainer.max_steps={STEPS}", "+callbacks.stop._target_=trial_helper.SignalAtStep",
                      f"+callbacks.stop.step={stop}", f"+callbacks.stop.signame={how}", env=env)
            resume = ["~callbacks.stop"]
        ckpt = run / "checkpoints" / "last.ckpt"
        if not ckpt.exists():
            print(f"trial {trial:3d} {model} {how:7s} every {every}: no checkpoint before the stop, skipped")
            continue
        saved = torch.load(ckpt, weights_only=True)["global_step"]
        r = train("ckpt_path=last", f"paths.output_dir={run}", *resume, env=env)
        ok, why = (False, r.stderr.strip().splitlines()[-1][:200]) if r.returncode else same(straight[model], run)
        epoch_end = saved % PER_EPOCH == 0
        tried += 1
        exact += ok
        at_epoch_end += epoch_end
        exact_at_epoch_end += ok and epoch_end
        print(f"trial {trial:3d} {model} {how:7s} every {every}: checkpoint at step {saved:2d}"
              f"{' (epoch end)' if epoch_end else '            '} -> {'exact' if ok else 'DIFFERENT: ' + why}",
              flush=True)
    print(f"\nexact: {exact}/{tried}; checkpoints at an epoch end: {exact_at_epoch_end}/{at_epoch_end} exact "
          f"({time.time() - t0:.0f} s, {work})")


if __name__ == "__main__":
    main()
