"""Why does `model=cgan` decline on `mnist5k` after its best point? (the family benchmark found judge FID
11.5 at step 507, then 151.2 at step 1,013, with every channel of the discriminator's last convolution
dead). Trains settings of `model=cgan` in one uninterrupted run each, judges them every `--every` steps
(`callbacks=judge_fid`: 1,000 EMA samples against 1,000 training images), and counts at the end how
many channels of the discriminator's spread convolution still fire on a batch of real images.

    python experiments/cgan_decline.py [--steps 1250] [--every 250] [--out runs/cgan_decline]
        [--candidate NAME "OVERRIDE ..."]... [--only NAME ...]

Results are appended to OUT/results.jsonl; a setting already there is not trained again.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

CANDIDATES = {
    "shipped": [],
    "lr_1e-3": ["model.optim_g.lr=1e-3", "model.optim_d.lr=1e-3"],
    "r1_1": ["model.r1_gamma=1.0"],
}


def alive_channels(ckpt: Path) -> tuple[int, int]:
    """Channels of D's spread convolution that fire (> 0) somewhere on 64 real training images."""
    import torch

    import genlab
    from genlab.bench import datamodule_of

    model, batch = genlab.load(ckpt), datamodule_of(ckpt).sample_batch("train", 64)
    seen = []
    hook = model.discriminator.spread_conv.register_forward_hook(lambda module, args, out: seen.append(out))
    model.train()  # the condition as training computes it
    with torch.no_grad():
        model.critic(batch["image"], model.training_condition(batch))
    hook.remove()
    return int((seen[0] > 0).flatten(2).any(2).any(0).sum()), seen[0].shape[1]


def judged(run_dir: Path, every: int) -> dict[int, float]:
    """step -> metrics/judge_fid, from the run's CSV log (which repeats the last value on later rows)."""
    rows = csv.DictReader(next(run_dir.rglob("metrics.csv")).open())  # logs/metrics.csv with logger=csv
    return {int(r["step"]) + 1: float(r["metrics/judge_fid"]) for r in rows
            if r.get("metrics/judge_fid") and (int(r["step"]) + 1) % every == 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1250)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--candidate", nargs=2, action="append", default=[], metavar=("NAME", "OVERRIDES"))
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/cgan_decline")
    args = parser.parse_args()
    candidates = {**CANDIDATES, **{name: extra.split() for name, extra in args.candidate}}
    results = Path(args.out) / "results.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["name"] for line in results.read_text().splitlines()} if results.exists() else set()
    for name, extra in candidates.items():
        if name in done or (args.only is not None and name not in args.only):
            continue
        run_dir = Path(args.out) / name
        cmd = [sys.executable, "-m", "genlab.train", "model=cgan", "data=mnist5k", "callbacks=judge_fid",
               f"callbacks.model_checkpoint.every_n_train_steps={args.every}", f"trainer.max_steps={args.steps}",
               f"seed={args.seed}", f"paths.output_dir={run_dir}", "callbacks.progress_bar=null",
               "trainer.enable_model_summary=false", *extra]
        wall = None  # trained before, stopped before judging: judged only
        if not (run_dir / "checkpoints" / "last.ckpt").exists():
            start = time.time()
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"{name} failed:\n{result.stderr[-2000:]}")
            wall = time.time() - start
        alive, total = alive_channels(run_dir / "checkpoints" / "last.ckpt")
        row = {"name": name, "overrides": extra, "fid": judged(run_dir, args.every), "alive": alive, "channels": total,
               "wall": wall}
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        curve = ", ".join(f"{step}: {fid:.1f}" for step, fid in row["fid"].items())
        print(f"{name}: judge FID by step {curve}; D channels alive {alive}/{total}"
              f"{'' if wall is None else f'; {wall:.0f} s'}", flush=True)


if __name__ == "__main__":
    main()
