"""Train each autoencoder model for 500 steps on `digits` through the CLI; report speed and quality.

    python experiments/autoencoders_digits.py [--steps 500] [--out runs/ae_digits]

Prints, per model: steps/s (training loop only, from the logged timestamps of the run), final validation
MSE and PSNR (images in [0, 1]) and, for reference, the baseline that predicts the mean training image for
every validation image; vqvae also its validation perplexity and codebook size.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import torch

MODELS = ["ae", "vae", "beta_vae", "vqvae", "cvae"]


def mean_image_baseline() -> tuple[float, float]:
    from genlab.utils.config import compose_train, make

    dm = make(compose_train("data=digits").data)
    dm.setup()
    train = torch.stack([dm.datasets["train"][i]["image"] for i in range(len(dm.datasets["train"]))])
    val = torch.stack([dm.datasets["val"][i]["image"] for i in range(len(dm.datasets["val"]))])
    mse = float((((val + 1) / 2 - (train.mean(0, keepdim=True) + 1) / 2) ** 2).mean())
    return mse, -10 * math.log10(mse)


def last(rows: list[dict], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key)]
    return values[-1] if values else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--out", default="runs/ae_digits")
    parser.add_argument("--models", nargs="*", default=MODELS)
    args = parser.parse_args()
    base_mse, base_psnr = mean_image_baseline()
    print(f"baseline (mean training image): val MSE {base_mse:.4f}, PSNR {base_psnr:.2f} dB")
    print(f"{'model':10} {'steps/s':>8} {'val MSE':>9} {'PSNR':>7} {'vs base':>8} {'extra'}")
    for name in args.models:
        out = Path(args.out) / name
        start = time.time()
        result = subprocess.run([sys.executable, "-m", "genlab.train", f"model={name}", "data=digits",
                                 f"trainer.max_steps={args.steps}", f"paths.output_dir={out}",
                                 "callbacks.progress_bar=null", "trainer.enable_model_summary=false"],
                                capture_output=True, text=True)
        wall = time.time() - start
        if result.returncode != 0:
            print(f"{name:10} failed: {result.stderr.strip().splitlines()[-1]}")
            continue
        rows = list(csv.DictReader((out / "logs" / "metrics.csv").open()))
        mse, psnr = last(rows, "val/mse"), last(rows, "val/psnr")
        extra = ""
        if name == "vqvae":
            extra = f"perplexity {last(rows, 'val/perplexity'):.1f} of {64} codes, usage {last(rows, 'val/codebook_usage'):.2f}"
        print(f"{name:10} {args.steps / wall:8.1f} {mse:9.4f} {psnr:7.2f} {psnr - base_psnr:+7.2f}dB {extra}"
              f"  (wall {wall:.0f}s incl. start-up)", flush=True)


if __name__ == "__main__":
    main()
