"""Text to image on `shapes`, measured: the one command a user types (`experiment=dalle_shapes`, both
stages), its wall time, then the shipped judge on its last checkpoint.

    python experiments/dalle_shapes.py [--out runs/dalle_shapes] [--extra model/text_encoder=minilm ...]
        [--scales 1 2 3 5] [--num-samples 1000] [--skip-train] [--compare cgan cvae] [--minilm]

Prints: training wall time (goal: both stages within 30 minutes on the 2-core CPU machine); per guidance
scale, judge FID against the validation images (goal at most 25; real against real is 5.4) and
conditional accuracy per attribute and joint on training-split captions (goal at least 95 %) and on the
held-out shape x colour pairs (goal at least 70 %); sampling with and without the key/value cache (same
tokens for the same seed, and the speed ratio at 64 image tokens; goal at least 5x); and writes a grid
for held-out prompts (RUN/heldout_grid.png), one prompt per row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HELDOUT_PROMPTS = ["a large green circle in the center", "a small red square at the top left",
                   "a large blue triangle at the bottom right", "a small green circle at the bottom left",
                   "a large red square at the top right", "a small blue triangle in the center"]


def run(cmd: list[str]) -> float:
    start = time.time()
    result = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return time.time() - start


def evaluate(ckpt: Path, out: Path, scale: float | None, num_samples: int) -> dict:
    """Judge FID and conditional accuracy; `scale` None for a model without guidance (cgan, cvae)."""
    metrics = out / (f"metrics_scale{scale:g}.json" if scale is not None else "metrics.json")
    if not metrics.exists():
        guidance = [f"generate.guidance_scale={scale}"] if scale is not None else []
        run(["genlab.eval", f"ckpt_path={ckpt}", "metrics=[fid,cond_acc]", "split=val", f"num_samples={num_samples}",
             *guidance, f"out={metrics}"])
    return json.loads(metrics.read_text())


def cache_check(ckpt: Path, n: int = 16) -> dict:
    import torch

    import genlab

    torch.set_num_threads(2)
    model = genlab.load(ckpt)
    prompts = (HELDOUT_PROMPTS * n)[:n]
    model.generate(2, prompts[:2], generator=0)  # warm-up: a lazily loaded text encoder, first-call costs
    timings, tokens = {}, {}
    for use_cache in (True, False, True, False):  # best of two each, alternating
        start = time.time()
        tokens[use_cache] = model.generate(n, prompts, generator=0, use_cache=use_cache)
        timings[use_cache] = min(timings.get(use_cache, float("inf")), time.time() - start)
    return {"same_images": bool(torch.equal(tokens[True], tokens[False])), "cached_s": timings[True],
            "uncached_s": timings[False], "ratio": timings[False] / timings[True],
            "image_tokens": model.prior.num_tokens}


def tokenizer_ceiling(ckpt: Path, num_samples: int) -> dict:
    """Stage 1 alone: judge FID and judged attributes of validation and held-out images encoded to codes and
    decoded back - the best any prior over these codes can reach."""
    import torch

    import genlab
    from genlab.data.shapes import Shapes
    from genlab.metrics.conditional import judged_attributes
    from genlab.metrics.judge_fid import judge_fid
    from genlab.metrics.judges import load_judge
    from genlab.utils.images import quantize

    torch.set_num_threads(2)
    vqvae, source, judge, result = genlab.load(ckpt), Shapes(), load_judge("shapes"), {}
    for split in ("val", "heldout"):
        items = [source.item(split, i) for i in range(num_samples)]
        real = torch.stack([it["image"] for it in items])
        recon = torch.cat([vqvae.decode_from_indices(vqvae.encode_to_indices(b)) for b in real.split(250)])
        right = judged_attributes(judge, quantize(recon))[:, :4] == torch.stack([it["attrs"] for it in items])
        result[split] = {"fid": judge_fid("shapes", real, recon), "joint": float(right.all(1).double().mean()),
                         **{a: float(right[:, i].double().mean()) for i, a in enumerate(source.attribute_names)}}
    return result


def print_table(name: str, m: dict) -> None:
    for split, acc in m["cond_acc"].items():
        print(f"  {name:12} {split:8} " + "  ".join(f"{k} {v:.3f}" for k, v in acc.items() if k != "num_images"))


def compare(model: str, wall_s: float, out: Path, num_samples: int) -> None:
    """`model` trained on shapes for the wall time dalle took (both stages), then the same table."""
    run_dir = out.parent / f"{out.name}_{model}"
    ckpt, wall_file = run_dir / "checkpoints" / "last.ckpt", run_dir / "wall_seconds.json"
    if not ckpt.exists():
        minutes = int(wall_s // 60)
        took = run(["genlab.train", f"model={model}", "data=shapes", f"paths.output_dir={run_dir}",
                    "trainer.max_steps=1000000", f"+trainer.max_time=00:00:{minutes:02d}:{int(wall_s - 60 * minutes):02d}",
                    "callbacks.progress_bar=null"])
        wall_file.write_text(json.dumps({"wall_s": took}))
    took = json.loads(wall_file.read_text())["wall_s"] if wall_file.exists() else float("nan")
    m = evaluate(ckpt, run_dir, None, num_samples)
    step = __import__("torch").load(ckpt, weights_only=True)["global_step"]
    print(f"{model} ({step} steps, {took / 60:.1f} min with its final evaluation): judge FID {m['fid']:.1f}")
    print_table(model, m)


def minilm(out: Path, num_samples: int) -> None:
    """Stage 2 again over the same stage 1, with the frozen MiniLM encoder instead of the trained one."""
    run_dir = out.parent / f"{out.name}_minilm"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if not ckpt.exists():
        from omegaconf import OmegaConf

        saved = OmegaConf.load(out / "config.yaml")
        run(["genlab.train", "model=dalle", "data=shapes", "model/text_encoder=minilm", f"paths.output_dir={run_dir}",
             f"model.tokenizer_ckpt={out / 'stage1' / 'checkpoints' / 'last.ckpt'}",
             f"model.dim={saved.model.dim}", f"model.text_encoder.max_length={saved.model.text_encoder.max_length}",
             f"trainer.max_steps={saved.trainer.max_steps}", "callbacks.progress_bar=null"])
    m = evaluate(ckpt, run_dir, 1, num_samples)
    print(f"text_encoder=minilm (stage 2 only, same stage 1 and steps): judge FID {m['fid']:.1f}")
    print_table("dalle+minilm", m)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/dalle_shapes")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for genlab.train")
    parser.add_argument("--scales", nargs="*", type=float, default=[1, 2, 3, 5])
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--compare", nargs="*", default=[], help="models trained for the same wall time")
    parser.add_argument("--minilm", action="store_true", help="stage 2 again with model/text_encoder=minilm")
    args = parser.parse_args()
    out = Path(args.out)
    ckpt = out / "checkpoints" / "last.ckpt"
    wall_file = out / "wall_seconds.json"
    if not args.skip_train:
        wall = run(["genlab.train", "experiment=dalle_shapes", f"paths.output_dir={out}",
                    "callbacks.progress_bar=null", *args.extra])
        wall_file.write_text(json.dumps({"wall_s": wall}))
    wall = json.loads(wall_file.read_text())["wall_s"] if wall_file.exists() else float("nan")
    print(f"training, both stages: {wall / 60:.1f} min (goal <= 30)")
    for split, c in tokenizer_ceiling(out / "stage1" / "checkpoints" / "last.ckpt", args.num_samples).items():
        print(f"stage 1 reconstructions ({split}), the ceiling for stage 2: judge FID {c.pop('fid'):.1f}, "
              + "  ".join(f"{k} {v:.3f}" for k, v in c.items()))
    for scale in args.scales:
        m = evaluate(ckpt, out, scale, args.num_samples)
        print(f"guidance {scale:g}: judge FID {m['fid']:.1f} (goal <= 25)")
        print_table("dalle", m)
    c = cache_check(ckpt)
    print(f"KV cache: same images {c['same_images']}, {c['cached_s']:.2f} s vs {c['uncached_s']:.2f} s without, "
          f"ratio {c['ratio']:.1f}x at {c['image_tokens']} image tokens (goal >= 5x)")
    prompts = out / "heldout_prompts.txt"
    prompts.write_text("\n".join(p for p in HELDOUT_PROMPTS for _ in range(8)) + "\n")
    run(["genlab.sample", f"ckpt_path={ckpt}", f"prompts_file={prompts}", f"num_samples={8 * len(HELDOUT_PROMPTS)}",
         "nrow=8", "generate.guidance_scale=3", f"out={out / 'heldout_grid.png'}"])
    print(f"held-out grid: {out / 'heldout_grid.png'} (one prompt per row: {HELDOUT_PROMPTS})")
    for model in args.compare:
        compare(model, wall, out, args.num_samples)
    if args.minilm:
        minilm(out, args.num_samples)


if __name__ == "__main__":
    main()
