"""The family benchmark: every model config trained on the same data for the same wall-clock budget,
evaluated one way, and written up as docs/benchmarks.md.

    python -m genlab.bench [--budget 10] [--data shapes digits mnist5k] [--models gan dcgan ...]
                           [--points 3] [--num-samples 1000] [--out runs/bench] [--doc docs/benchmarks.md]
    python -m genlab.bench --quick      # tiny networks and two steps a point: what the tests run

Protocol, the same for every family: `python -m genlab.train` in its own process (so its peak memory is
its own) with `trainer.max_time` a fraction of `--budget` minutes per point (exact resume continues the run
to the next point), seed 0, the model's shipped config. At each point the last checkpoint is evaluated
with the data set's judge (`genlab.eval`: FID, KID, precision/recall on `--num-samples` generated images
against as many training images; conditional accuracy on `--cond-samples` conditions of training examples
and of held-out pairs). `dalle` is a prior over the `vqvae` row's tokenizer, so its training time is
its own budget on top of that row's. A fixed workload (float32 matrix products) is timed before and after
every training segment, and a run whose machine measured slower than the benchmark's median is marked on
the page, as is one that shared the CPU with other work. Everything is kept in OUT; an interrupted
benchmark resumes where it stopped, and `--doc` is rewritten from all results found there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from genlab.errors import GenlabError

# name -> the overrides that select it (each GAN loss; the ResNet GAN is the default `gan`)
ENTRIES = {
    "gan": ["model=gan"],
    "gan_hinge": ["model=gan", "model.loss=hinge"],
    "gan_wgan_gp": ["model=gan", "model.loss=wgan_gp"],
    "dcgan": ["model=dcgan"],
    "cgan": ["model=cgan"],
    "ae": ["model=ae"],
    "vae": ["model=vae"],
    "beta_vae": ["model=beta_vae"],
    "vqvae": ["model=vqvae"],
    "cvae": ["model=cvae"],
    "dalle": ["model=dalle"],
    "diffusion": ["model=diffusion"],
    "cdiffusion": ["model=cdiffusion"],
    "flow": ["model=flow"],
}
DATA = ["shapes", "digits", "mnist5k"]
QUICK_DATA = {"shapes": ["data.source.num_train=128", "data.source.num_val=32", "data.source.num_heldout=32"]}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genlab.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=10.0, help="minutes of training per model and data set")
    p.add_argument("--data", nargs="+", default=DATA, choices=DATA)
    p.add_argument("--models", nargs="+", default=list(ENTRIES), choices=list(ENTRIES))
    p.add_argument("--points", type=int, default=3, help="evaluations along the budget (the FID-time curve)")
    p.add_argument("--num-samples", type=int, default=1000, help="images per FID, KID and precision/recall")
    p.add_argument("--cond-samples", type=int, default=300, help="conditions per split for conditional accuracy")
    p.add_argument("--out", default="runs/bench", help="where runs and results are kept (resumable)")
    p.add_argument("--doc", default="docs/benchmarks.md", help="the page written; its figures go in DOC's folder")
    p.add_argument("--quick", action="store_true", help="tiny networks, 2 steps a point, 16 images: a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.num_samples, args.cond_samples = min(args.num_samples, 16), min(args.cond_samples, 8)
    if args.budget <= 0 or args.points < 1 or args.num_samples < 2:
        p.error("--budget must be positive, --points at least 1 and --num-samples at least 2")
    return args


# ---- one model on one data set ----------------------------------------------------------------------
def overrides(name: str, data: str, args, out: Path, point: int) -> list[str]:
    from genlab.utils.config import quick_overrides

    chosen = [*ENTRIES[name], f"data={data}"]
    if name == "dalle":
        chosen.append(f"model.tokenizer_ckpt={run_dir(args, data, 'vqvae') / 'checkpoints' / 'last.ckpt'}")
    if args.quick:
        chosen = quick_overrides(*chosen) + chosen + QUICK_DATA.get(data, [])
        # max_time only so that Lightning's Timer counts the training time
        limit = [f"trainer.max_steps={2 * point}", "trainer.val_check_interval=2", "trainer.max_time=00:01:00:00"]
    else:
        seconds = round(args.budget * 60 * point / args.points)
        limit = [f"trainer.max_time=00:{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
                 "trainer.max_steps=100000000"]
    if (out / "checkpoints" / "last.ckpt").exists():  # the next point: the run resumes with its own config
        return [*limit, "ckpt_path=last", f"paths.output_dir={out}"]
    return [*chosen, *limit, "seed=0", f"paths.output_dir={out}", "logger=none", "callbacks.progress_bar=null",
            "trainer.enable_model_summary=false"]


def save(path: Path, record: dict) -> None:
    """Atomically: a benchmark stopped while writing keeps the previous record."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def run_dir(args, data: str, name: str) -> Path:
    return Path(args.out) / data / name


def train_segment(cmd: list[str], log: Path) -> float:
    """Run `python -m genlab.train ...` to its next point; returns its peak resident memory in MiB."""
    with log.open("a") as f:
        # its own session: a Ctrl-C in the terminal reaches the benchmark only, which passes on one SIGTERM
        proc = subprocess.Popen([sys.executable, "-m", "genlab.train", *cmd], stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the largest of all children
        except BaseException:  # the benchmark was stopped: the run saves last.ckpt and stops (Preemption)
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text()[-2000:]
        lines = [line.strip() for line in tail.splitlines() if line.strip()] or [""]
        # genlab's one-sentence errors, Hydra's composition errors, a traceback's last line
        reason = next((line for line in reversed(lines) if line.startswith(("error:", "In '")) or "Error:" in line),
                      lines[-1])
        raise RuntimeError(f"training failed (exit {proc.returncode}): {reason}\n{tail}")
    return usage.ru_maxrss / 1024  # kB on Linux


def machine_speed(seconds: float = 1.0) -> float:
    """GFLOP/s of float32 1024x1024 matrix products on torch's threads, timed beside every training segment:
    a machine that slows (a neighbour on the host, throttling) shows on the page even when its load average,
    which counts only this machine's processes, does not."""
    import torch

    a = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0))
    a @ a  # warm-up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n == 0:
        a @ a
        n += 1
    return 2 * 1024 ** 3 * n / elapsed / 1e9


def trained_state(ckpt: Path) -> tuple[int, float]:
    """The checkpoint's step and the training wall time Lightning's Timer counted (NaN without one)."""
    from genlab.load import read_checkpoint

    state = read_checkpoint(ckpt)
    timer = next((v for k, v in state.get("callbacks", {}).items() if k.startswith("Timer")), None)
    return int(state.get("global_step", 0)), float(timer["time_elapsed"]["train"]) if timer else float("nan")


def sampling_rate(ckpt: Path, n: int) -> float:
    """Images per second of `generate` with the model's default settings (after a warm-up call)."""
    import torch

    import genlab

    model = genlab.load(ckpt)
    condition = None
    if model.conditional:
        dm = datamodule_of(ckpt)
        condition = model.condition_from_batch(dm.sample_batch("train", n))
    model.generate(min(n, 2), condition=None if condition is None else condition[:2], generator=0)
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(n, condition=condition, generator=0)
    return n / (time.perf_counter() - start)


def datamodule_of(ckpt: Path):
    """The run's data, as genlab.eval reads it from the run's config (allow-listed)."""
    from genlab.eval import data_config
    from genlab.utils.config import compose_config, make

    return make(data_config(compose_config("eval", f"ckpt_path={ckpt.as_posix()}")))


def finished(args, data: str, name: str) -> bool:
    record_file = run_dir(args, data, name) / "bench.json"
    if not record_file.exists():
        return False
    record = json.loads(record_file.read_text())
    return len(record["points"]) >= args.points and "sample_images_per_s" in record


def measure(name: str, data: str, args, log) -> dict:
    """Train `name` on `data` point by point (each point evaluated); returns its result record."""
    from omegaconf import OmegaConf

    import genlab
    from genlab.eval import evaluate_checkpoint

    out = run_dir(args, data, name)
    record_file = out / "bench.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else {"points": []}
    ckpt = out / "checkpoints" / "last.ckpt"
    for point in range(len(record["points"]) + 1, args.points + 1):
        if not ckpt.exists() and out.exists():  # stopped before its first checkpoint: nothing to keep
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        timing = 0.1 if args.quick else 1.0
        speed = machine_speed(timing)
        peak = train_segment(overrides(name, data, args, out, point), out.parent / f"{name}.log")
        load = os.getloadavg()[0]  # the last minute of training: above the core count, something shared the CPU
        speed = min(speed, machine_speed(timing))  # before and after: the slower counts
        step, seconds = trained_state(ckpt)
        conditional = genlab.load(ckpt).conditional
        values = evaluate_checkpoint(ckpt, metrics=["fid", "kid", "pr"], num_samples=args.num_samples, split="train")
        if conditional:
            values["cond_acc"] = evaluate_checkpoint(ckpt, metrics=["cond_acc"], num_samples=args.cond_samples,
                                                     split="train")["cond_acc"]
        record["points"].append({"step": step, "train_seconds": seconds, "peak_mib": peak, "load": load,
                                 "gflops": speed,
                                 **{k: values[k] for k in ("fid", "kid", "precision", "recall") if k in values},
                                 **({"cond_acc": values["cond_acc"]} if conditional else {})})
        record["batch_size"] = int(OmegaConf.load(out / "config.yaml").data.batch_size)
        save(record_file, record)
        log(f"{data}/{name} point {point}/{args.points}: step {step}, FID {values['fid']:.1f}")
    if "sample_images_per_s" not in record:
        record["sample_images_per_s"] = sampling_rate(ckpt, 8 if args.quick else 256)
        save(record_file, record)
    return record


# ---- the page ---------------------------------------------------------------------------------------
def machine() -> str:
    import platform

    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {device}; torch {torch.__version__}, Python {platform.python_version()}"


def run_speed(record: dict) -> float | None:
    """A run's machine speed (its slowest reading), None for a run measured before the bench timed it."""
    return min((p["gflops"] for p in record["points"] if "gflops" in p), default=None)


def speeds(results: dict[str, dict]) -> list[float | None]:
    return [run_speed(r) for models in results.values() for r in models.values()]


def reference_speed(results: dict[str, dict]) -> float | None:
    """The median of the runs' machine speeds: what "(slow)" is measured against."""
    known = sorted(s for s in speeds(results) if s is not None)
    return known[len(known) // 2] if known else None


SLOW = 0.85  # a run whose machine measured below this fraction of the reference speed is marked "(slow)"


def table(data: str, results: dict, reference: float | None = None) -> list[str]:
    header = ("| model | steps | train min | train img/s | FID | KID | precision | recall "
              "| cond. acc. train / held-out | sample img/s | peak MiB |")
    rows = [header, "|" + " --- |" * 11]
    for name, r in sorted(results.items(), key=lambda kv: kv[1]["points"][-1]["fid"]):
        p = r["points"][-1]
        rate = p["step"] * r["batch_size"] / p["train_seconds"] if p["train_seconds"] else float("nan")
        acc = p.get("cond_acc")
        acc_text = " / ".join(f"{acc[s]['joint']:.2f}" for s in ("train", "heldout") if s in acc) if acc else "-"
        peak = max(q["peak_mib"] for q in r["points"])
        shared = max(q.get("load", 0) for q in r["points"]) > (os.cpu_count() or 1) + 0.5
        slow = reference is not None and (run_speed(r) or reference) < SLOW * reference
        marks = "".join(mark for mark, on in ((" (shared)", shared), (" (slow)", slow)) if on)
        rows.append(f"| {name}{marks} | {p['step']} | {p['train_seconds'] / 60:.1f} | {rate:.0f} | {p['fid']:.1f} | "
                    f"{p['kid']:.3f} | {p['precision']:.2f} | {p['recall']:.2f} | {acc_text} | "
                    f"{r['sample_images_per_s']:.0f} | {peak:.0f} |")
    return rows


def figures(results: dict[str, dict], folder: Path, doc: Path) -> list[str]:
    """The FID-time curves (one panel per data set) and a grid of samples per family, as PNGs; every data set
    in `results` has at least one result (write_doc passes only those)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, (data, models) in zip(axes[0], results.items()):
        for name, r in models.items():
            ax.plot([p["train_seconds"] / 60 for p in r["points"]], [p["fid"] for p in r["points"]], "o-", label=name)
        ax.set(title=data, xlabel="training minutes", ylabel="judge FID", yscale="log")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(folder / "fid_vs_time.png", dpi=80)
    plt.close(fig)
    rel = folder.relative_to(doc.parent).as_posix()
    lines.append(f"![judge FID against training time]({rel}/fid_vs_time.png)\n")
    for data, models in results.items():
        cols = min(5, len(models))
        rows = -(-len(models) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.3 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, name in zip(axes.flat, sorted(models, key=lambda n: models[n]["points"][-1]["fid"])):
            grid = run_grid(models[name]["dir"])
            if grid is not None:
                ax.imshow(Image.open(grid))
            ax.set_title(f"{name} (FID {models[name]['points'][-1]['fid']:.0f})", fontsize=10)
        fig.tight_layout()
        fig.savefig(folder / f"samples_{data}.png", dpi=100)
        plt.close(fig)
        lines.append(f"### Samples on `{data}`\n\n![samples on {data}]({rel}/samples_{data}.png)\n")
    return lines


def run_grid(run: str) -> Path | None:
    """The run's last grid of samples (not of reconstructions, which autoencoders also write)."""
    samples = sorted((p for p in (Path(run) / "samples").glob("*.png") if not p.stem.endswith("_reconstructions")),
                     key=lambda p: p.stat().st_mtime)
    return samples[-1] if samples else None


NOTES = re.compile(r"<!-- notes -->.*?<!-- /notes -->\n", re.DOTALL)


def write_doc(args, results: dict[str, dict], failed: dict[str, dict], pending: list[str] = ()) -> None:
    """The page from every result so far; `pending` (data/model names) marks it partial. A block between
    `<!-- notes -->` and `<!-- /notes -->` in the page (a person's reading of the results) is kept."""
    doc = Path(args.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    notes = NOTES.search(doc.read_text()) if doc.exists() else None
    budget = "2 steps a point (--quick: a smoke run, the numbers mean nothing)" if args.quick else \
        f"{args.budget:g} minutes"
    reference, unread = reference_speed(results), speeds(results).count(None)
    speed = "not measured (results from before genlab.bench timed the machine)" if reference is None else (
        f"median {reference:.0f} GFLOP/s; \"(slow)\": a run whose slower reading was under {SLOW:.0%} of that, so "
        "the machine itself was slower while it trained and its time-bound figures are pessimistic"
        + (f" ({unread} run(s) measured before the bench timed the machine have no reading)" if unread else ""))
    command = (f"python -m genlab.bench --budget {args.budget:g} --points {args.points} --num-samples "
               f"{args.num_samples}{' --quick' if args.quick else ''}")
    lines = [f"""# Benchmarks

Every family on the same data, budget and protocol, written by `python -m genlab.bench` (its docstring
gives the protocol). The numbers are this machine's: run the command below to measure yours (it resumes
where it stopped, keeping every result in `runs/bench/`), or `python -m genlab.bench --quick --out /tmp/b
--doc /tmp/b/benchmarks.md` for a two-minute smoke run.

- Command: `{command}`
- Machine: {machine()}
- Budget: {budget} of training per model and data set, evaluated at {args.points} points along it
- Judge FID, KID, precision and recall: {args.num_samples} generated images (seed 0) against as many
  training images, in the data set's judge features ([Evaluation](evaluation.md)); conditional accuracy:
  joint, on {args.cond_samples} conditions of training examples and of held-out pairs
- Train img/s: steps x batch over Lightning's training time (validation grids included); sample img/s:
  one `generate` call with the model's defaults; peak MiB: the training process's resident memory
- `dalle` trains its prior over the `vqvae` row's tokenizer: add that row's minutes
- "(shared)": the machine's load over the last minute of a training segment exceeded its core count, so
  other work took CPU from it and its time-bound figures (steps, FID at the budget) are pessimistic
- Machine speed (float32 matrix products, timed before and after every training segment): {speed}
"""]
    if pending:
        lines.append(f"**Partial: {len(pending)} run(s) not finished yet** ({', '.join(pending)}); the same command "
                     f"continues where it stopped.\n")
    if notes:
        lines.append(notes[0])
    measured = {data: models for data, models in results.items() if models}
    for data in (d for d in results if d in measured or failed.get(d)):
        lines += [f"## `{data}`", "", *table(data, measured.get(data, {}), reference), ""]
        lines += [f"Failed: `{name}` ({why}; its log: `{run_dir(args, data, name)}.log`)\n"
                  for name, why in failed.get(data, {}).items()]
    if measured:
        lines += ["## Judge FID against training time", "", *figures(measured, doc.parent / doc.stem, doc)]
    doc.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if threading.current_thread() is not threading.main_thread():
        return run(args)
    # `kill` stops the benchmark as Ctrl-C does: the run in progress saves and stops too
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(
        "genlab.bench: stopped by SIGTERM; the same command continues where it stopped"))
    try:
        run(args)
    except KeyboardInterrupt:
        print("genlab.bench: stopped by Ctrl-C; the same command continues where it stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    todo = [(data, name) for data in args.data for name in args.models]
    if "dalle" in args.models:  # its tokenizer is the vqvae row's checkpoint
        todo = [(d, n) for d, n in todo if n != "dalle"] + [(d, "dalle") for d in args.data]
        for data in args.data:
            if "vqvae" not in args.models and not (run_dir(args, data, "vqvae") / "bench.json").exists():
                todo.insert(0, (data, "vqvae"))
    results: dict[str, dict] = {data: {} for data in args.data}
    failed: dict[str, dict] = {data: {} for data in args.data}
    # runs finished earlier are read first, so that the bar's rate and ETA count only the runs still to do
    done = [(d, n) for d, n in todo if finished(args, d, n)]
    for data, name in done:
        results[data][name] = {**measure(name, data, args, print), "dir": str(run_dir(args, data, name))}
    todo = [t for t in todo if t not in done]
    with tqdm(todo, desc="genlab.bench", unit="model", initial=len(done), total=len(done) + len(todo)) as bar:
        for i, (data, name) in enumerate(bar):
            bar.set_postfix_str(f"{data}/{name}")
            try:
                record = measure(name, data, args, bar.write)
                results[data][name] = {**record, "dir": str(run_dir(args, data, name))}
            except (RuntimeError, GenlabError) as exc:  # one model's failure does not stop the others
                failed[data][name] = str(exc).splitlines()[0]
                bar.write(f"{data}/{name} failed: {failed[data][name]}")
            if i + 1 < len(todo):  # the page after every run: a benchmark stopped half-way shows what it measured
                write_doc(args, results, failed, [f"{d}/{n}" for d, n in todo[i + 1:]])
    write_doc(args, results, failed)
    print(f"wrote {args.doc}")
    if any(failed.values()):
        sys.exit(f"genlab.bench: {sum(map(len, failed.values()))} run(s) failed, listed in {args.doc}; run the "
                 f"same command again to retry them")


if __name__ == "__main__":
    main()
