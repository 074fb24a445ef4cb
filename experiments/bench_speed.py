"""Speed options and devices, through the command a user types: images/s of `python -m genlab.train` for
fp32 eager against bf16-mixed + channels_last + compile on one device (goal on a GPU: at least 2x), and
one device against all of them with DDP at the same batch per device.

    python experiments/bench_speed.py [--model gan] [--steps 300] [--batch-size 256] [--accelerator gpu]
        [--devices N] [--out runs/bench_speed]

images/s comes from the run's own progress lines (train.log, one every 50 steps): the median rate of the
intervals after the first, which holds compilation and warm-up, times the global batch.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

RATE = re.compile(r"step (\d+)/\d+ .*?  ([\d.]+) steps/s")


def images_per_second(out: Path, global_batch: int) -> float:
    rates = [float(m[2]) for m in RATE.finditer((out / "train.log").read_text()) if int(m[1]) > 50]
    if not rates:
        sys.exit(f"{out}/train.log has no progress line after step 50; raise --steps")
    return statistics.median(rates) * global_batch


def run(name: str, args, overrides: list[str], devices: int) -> float:
    out = Path(args.out) / re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    batch = args.batch_size * devices
    cmd = [sys.executable, "-m", "genlab.train", f"model={args.model}", "data=shapes", f"data.batch_size={batch}",
           f"trainer.max_steps={args.steps}", f"trainer.accelerator={args.accelerator}", "trainer.limit_val_batches=0",
           "callbacks.progress_bar=null", "callbacks.model_checkpoint.every_n_train_steps=null",
           f"paths.output_dir={out}", *overrides]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    speed = images_per_second(out, batch)
    print(f"{name:28} {speed:10.0f} images/s", flush=True)
    return speed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="gan")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256, help="per device")
    parser.add_argument("--accelerator", default="gpu")
    parser.add_argument("--devices", type=int, default=0, help="all of the machine's when 0")
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--out", default="runs/bench_speed")
    args = parser.parse_args()
    if args.devices == 0:
        import torch

        args.devices = torch.cuda.device_count() if args.accelerator == "gpu" else 2
    base = run("fp32 eager, 1 device", args, [], 1)
    fast = run(f"{args.precision} + channels_last + compile", args,
               [f"trainer.precision={args.precision}", "model.channels_last=true", "model.compile=true"], 1)
    print(f"speed options: {fast / base:.2f}x (goal >= 2x on a GPU)")
    if args.devices > 1:
        many = run(f"fp32 eager, {args.devices} devices (DDP)", args,
                   ["trainer=ddp", f"trainer.accelerator={args.accelerator}", f"trainer.devices={args.devices}"],
                   args.devices)
        print(f"{args.devices} devices: {many / base:.2f}x one device ({many / base / args.devices:.0%} scaling)")


if __name__ == "__main__":
    main()
