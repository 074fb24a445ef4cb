"""Issue #12's measurements of the diffusion family, each through the CLI a user types.

    python experiments/diffusion_measure.py [--budget 30] [--data shapes mnist5k] [--out runs/diffusion]
        [--samplers ddpm:1000 ddim:10 ddim:20 ddim:50 ddim:100 dpm_solver:10 dpm_solver:20]
        [--scales 1 2 3 5] [--num-samples 1000] [--conditional] [--gan] [--extra OVERRIDE ...]

For each data set: `model=diffusion` trained for `--budget` minutes of wall time (`trainer.max_time`), then
judge FID and KID of its last checkpoint (goal: at most 15 on shapes and on mnist5k; real against real
5.4 on shapes) per sampler and number of steps, with the evaluation's seconds per 1,000 images (sampling
dominates it; goal: DDIM 50 within 15 % of DDPM 1000's FID). `--gan`: `model=gan` for the same wall time beside it. `--conditional`:
`model=cdiffusion` on shapes captions for the same budget, judge FID and conditional accuracy on training
captions (goal 95 % joint) and held-out pairs (goal 80 %) per guidance scale. Every result is written to
OUT/results.jsonl; a run or an evaluation already there is not repeated, so an interrupted measurement
resumes. Prints the tables at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def run(cmd: list[str]) -> float:
    start = time.time()
    result = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return time.time() - start


def trained(name: str, overrides: list[str], data: str, args) -> tuple[Path, float]:
    """The last checkpoint of `name` on `data` trained for the budget, and its training wall time."""
    out = Path(args.out) / f"{data}_{name}"
    ckpt = out / "checkpoints" / "last.ckpt"
    record = out / "wall.json"
    if not record.exists():
        hours, minutes = divmod(args.budget, 60)
        wall = run(["genlab.train", *overrides, f"data={data}", f"trainer.max_time=00:{hours:02d}:{minutes:02d}:00",
                    "trainer.max_steps=1000000", f"seed={args.seed}", f"paths.output_dir={out}",
                    "callbacks.progress_bar=null", "trainer.enable_model_summary=false", *args.extra])
        record.write_text(json.dumps({"wall": wall}))
    return ckpt, json.loads(record.read_text())["wall"]


def evaluate(ckpt: Path, key: str, options: list[str], metrics: str, split: str, args) -> dict:
    if args.num_samples != 1000:
        key = f"{key}_n{args.num_samples}"
    out = ckpt.parent.parent / f"metrics_{key}.json"
    if not out.exists():
        seconds = run(["genlab.eval", f"ckpt_path={ckpt}", f"metrics={metrics}", f"split={split}",
                       f"num_samples={args.num_samples}", *options, f"out={out}"])
        values = json.loads(out.read_text())
        out.write_text(json.dumps({**values, "eval_seconds": seconds}))
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=30, help="minutes of training per model")
    parser.add_argument("--data", nargs="*", default=["shapes", "mnist5k"])
    parser.add_argument("--samplers", nargs="*", default=["ddpm:1000", "ddim:10", "ddim:20", "ddim:50", "ddim:100",
                                                          "dpm_solver:10", "dpm_solver:20"])
    parser.add_argument("--scales", nargs="*", type=float, default=[1, 2, 3, 5])
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument("--gan", action="store_true")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides added to every training run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/diffusion")
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for data in args.data:
        ckpt, wall = trained("diffusion", ["model=diffusion"], data, args)
        for spec in args.samplers:
            sampler, steps = spec.split(":")
            m = evaluate(ckpt, f"{sampler}{steps}", [f"generate.sampler={sampler}", f"generate.steps={steps}"],
                         "[fid,kid]", "train", args)
            rows.append({"data": data, "model": "diffusion", "sampler": spec, "wall": wall, **m})
            print(json.dumps(rows[-1]), flush=True)
        if args.gan:
            ckpt, wall = trained("gan", ["model=gan"], data, args)
            rows.append({"data": data, "model": "gan", "sampler": "-", "wall": wall,
                         **evaluate(ckpt, "gan", [], "[fid,kid]", "train", args)})
            print(json.dumps(rows[-1]), flush=True)
    if args.conditional:
        ckpt, wall = trained("cdiffusion", ["model=cdiffusion"], "shapes", args)
        for scale in args.scales:
            m = evaluate(ckpt, f"scale{scale:g}", [f"generate.guidance_scale={scale}"], "[fid,cond_acc]", "val", args)
            rows.append({"data": "shapes", "model": "cdiffusion", "sampler": f"default, scale {scale:g}", "wall": wall,
                         **m})
            print(json.dumps(rows[-1]), flush=True)
    with (Path(args.out) / "results.jsonl").open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")

    print(f"\n{'data':8} {'model':11} {'sampler':22} {'FID':>7} {'KID':>7} {'eval s/1000':>11} {'train min':>9}")
    for r in rows:
        per_1000 = r.get("eval_seconds", float("nan")) * 1000 / args.num_samples
        print(f"{r['data']:8} {r['model']:11} {r['sampler']:22} {r.get('fid', float('nan')):7.1f} "
              f"{r.get('kid', float('nan')):7.3f} {per_1000:11.0f} {r['wall'] / 60:9.1f}")
        for split, acc in r.get("cond_acc", {}).items():
            print(f"{'':43} cond_acc {split}: joint {acc.get('joint', float('nan')):.3f}")


if __name__ == "__main__":
    main()
