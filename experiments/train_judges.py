"""Train the judge networks shipped in src/genlab/metrics/judges/ (fixed seed), and report accuracy.

    python experiments/train_judges.py [--sets shapes digits mnist5k]

Each judge trains on the data set's training split (for `shapes`: every shape x colour pair, the
held-out ones included, since a judge judges and does not generate) and is measured on real held-out
images (the validation split). Weights are written as safetensors with a JSON sidecar.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from genlab.metrics.judges import JUDGE_DIR, JUDGE_SPECS, build_judge, judge_datamodule

EPOCHS = {"shapes": 4, "digits": 40, "mnist5k": 15}


def stack(dm, split):
    loader = dm.loader(split, batch_size=512)
    batches = list(loader)
    return torch.cat([b["image"] for b in batches]), torch.cat([b["attrs"] for b in batches])


def augment(x: torch.Tensor) -> torch.Tensor:
    """Small random shifts (1 px), so the judge reads shapes, not exact pixel positions."""
    dx, dy = torch.randint(-1, 2, (2,))
    return torch.roll(x, shifts=(int(dy), int(dx)), dims=(2, 3))


def train(name: str) -> dict:
    torch.manual_seed(0)
    dm = judge_datamodule(name)
    x, y = stack(dm, "train")
    xv, yv = stack(dm, "val")
    judge = build_judge(name)
    opt = torch.optim.AdamW(judge.parameters(), 2e-3, weight_decay=1e-4)
    steps = EPOCHS[name] * (len(x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    start, step = time.time(), 0
    for _ in range(EPOCHS[name]):
        judge.train()
        for idx in torch.randperm(len(x)).split(128):
            if len(idx) < 128:
                continue
            batch = augment(x[idx]) if name != "shapes" else x[idx]
            loss = sum(F.cross_entropy(o, y[idx, k]) for k, o in enumerate(judge(batch)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    judge.eval()
    with torch.no_grad():
        outs = [torch.cat(parts) for parts in zip(*[judge(b) for b in xv.split(512)])]
    acc = {a: float((o.argmax(1) == yv[:, k]).float().mean())
           for k, (a, o) in enumerate(zip(JUDGE_SPECS[name]["attributes"], outs))}
    from safetensors.torch import save_file

    JUDGE_DIR.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in judge.state_dict().items()}, str(JUDGE_DIR / f"{name}.safetensors"))
    info = {"data": name, "val_images": len(xv), "accuracy": acc, "train_seconds": round(time.time() - start, 1),
            "seed": 0, "epochs": EPOCHS[name]}
    (JUDGE_DIR / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="*", default=list(JUDGE_SPECS))
    for name in parser.parse_args().sets:
        info = train(name)
        accs = ", ".join(f"{a} {v:.2%}" for a, v in info["accuracy"].items())
        print(f"{name}: {accs} on {info['val_images']} real held-out images ({info['train_seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
