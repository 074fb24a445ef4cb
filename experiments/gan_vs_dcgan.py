"""The proof that the default `model=gan` is good: train it and the DCGAN-paper baseline `model=dcgan` for
the same number of generator updates on `shapes`, `mnist5k` and `digits`, then judge FID both against
2,000 training images (mnist5k's validation split has only 500, where the FID of one checkpoint moved
between 56 and 64 with the sampling seed; at 2,000 images it moves by about 3).

    python experiments/gan_vs_dcgan.py [--steps 2000] [--data shapes mnist5k digits] [--out runs/gan_vs_dcgan]
        [--candidate NAME "OVERRIDE ..."]...

Each run goes through the CLI (`python -m genlab.train`, then `python -m genlab.eval` on its last.ckpt, the
EMA generator where the model keeps one). `--candidate` adds a setting to compare (a name and the
overrides it adds to `model=gan`), such as `--candidate dcgan_nets "model/generator=dcgan
model/discriminator=dcgan"`. Results are appended to OUT/results.jsonl and a run already there is not
trained again, so an interrupted comparison resumes. Prints, per data set, each model's judge FID and KID,
its FID ratio to dcgan (goal: at most 0.5), its wall time against the first candidate's, and whether
the absolute goals hold (shapes at most 60, mnist5k at most 30).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

GOALS = {"shapes": 60.0, "mnist5k": 30.0}  # judge FID at 2,000 generator updates (issue #11)


def run(cmd: list[str]) -> float:
    start = time.time()
    result = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return time.time() - start


def train_and_judge(name: str, overrides: list[str], data: str, args) -> dict:
    run_dir = Path(args.out) / f"{data}_{name}"
    wall = run(["genlab.train", *overrides, f"data={data}", f"trainer.max_steps={args.steps}", f"seed={args.seed}",
                f"paths.output_dir={run_dir}", "callbacks.progress_bar=null", "trainer.enable_model_summary=false"])
    metrics = run_dir / "metrics.json"
    run(["genlab.eval", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"num_samples={args.num_samples}",
         f"split={args.split}", "metrics=[fid,kid,pr]", f"out={metrics}"])
    return {**json.loads(metrics.read_text()), "model": name, "data": data, "steps": args.steps, "seed": args.seed,
            "overrides": overrides, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000, help="generator updates for every model")
    parser.add_argument("--data", nargs="*", default=["shapes", "mnist5k", "digits"])
    parser.add_argument("--candidate", nargs=2, action="append", default=[], metavar=("NAME", "OVERRIDES"),
                        help="another setting: a name and the overrides it adds to model=gan")
    parser.add_argument("--only", nargs="*", default=None, help="train only these models (the table shows all run)")
    parser.add_argument("--time-base", default="gan", help="the model whose wall time the others are compared with")
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--split", default="train", help="the real images judged against")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/gan_vs_dcgan")
    args = parser.parse_args()
    models = {"gan": ["model=gan"], "dcgan": ["model=dcgan"],
              **{name: ["model=gan", *extra.split()] for name, extra in args.candidate}}
    # several comparisons may run at once (each appends whole lines): the table reads them all
    results_file = Path(args.out) / "results.jsonl"
    results_file.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if results_file.exists():
        for line in results_file.read_text().splitlines():
            row = json.loads(line)
            if row["steps"] == args.steps and row["seed"] == args.seed:
                done[row["model"], row["data"]] = row
    for data in args.data:
        for name, overrides in models.items():
            if (name, data) not in done and (args.only is None or name in args.only):
                row = done[name, data] = train_and_judge(name, overrides, data, args)
                with results_file.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{data} {name}: FID {row['fid']:.1f}, KID {row['kid']:.3f}, precision {row['precision']:.2f}, "
                      f"recall {row['recall']:.2f}, {row['wall']:.0f} s", flush=True)

    print(f"\n{args.steps} generator updates each; judge FID/KID against 2,000 {args.split} images, seed {args.seed}")
    print(f"{'data':8} {'model':14} {'FID':>6} {'KID':>6} {'prec':>5} {'recall':>6} {'/dcgan':>7} {'time':>6} "
          f"{'/' + args.time_base[:4]:>5}  goal met")
    for data in args.data:
        dcgan, base = done.get(("dcgan", data)), done.get((args.time_base, data))
        for name in models:
            row = done.get((name, data))
            if row is None or dcgan is None:
                continue
            ratio, time_ratio = row["fid"] / dcgan["fid"], row["wall"] / base["wall"] if base else float("nan")
            met = ratio <= 0.5 and row["fid"] <= GOALS.get(data, float("inf"))
            print(f"{data:8} {name:14} {row['fid']:6.1f} {row['kid']:6.3f} {row['precision']:5.2f} "
                  f"{row['recall']:6.2f} {ratio:7.3f} {row['wall']:6.0f} {time_ratio:5.2f}  "
                  f"{'yes' if met else 'NO' if name != 'dcgan' else ''}")


if __name__ == "__main__":
    main()
