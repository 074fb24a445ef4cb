"""Conditional accuracy: generate for the conditions (captions or labels) of real examples, read the
attributes back with the data set's judge, and count how often they match.

A caption states every attribute, so each is checked, and "joint" counts images with all of them right;
a label is the class, which every labelled data set keeps as its first attribute, so only that one is.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, default_collate

from genlab.errors import ConfigError
from genlab.utils.images import quantize


def generate_like(model, examples, indices, batch_size: int, base_seed: int, options: dict | None = None) -> torch.Tensor:
    """One uint8 sample per index, conditioned as `examples[index]` is (examples are read only for
    conditional models), chunk k drawn with seed `base_seed + k`: the result depends on nothing else.
    `options` go to `generate` (guidance_scale, top_k, truncation, ...)."""
    chunks, conditional = [], getattr(model, "conditions_on", None) is not None
    for k, start in enumerate(range(0, len(indices), batch_size)):
        part = indices[start:start + batch_size]
        cond = model.condition_from_batch(default_collate([examples[i] for i in part])) if conditional else None
        gen = torch.Generator().manual_seed(base_seed + k)
        chunks.append(quantize(model.generate(len(part), condition=cond, generator=gen, **(options or {})).cpu()))
    return torch.cat(chunks)


def judged_attributes(judge, images: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """The judge's reading of uint8 images (N, C, H, W): attribute indices (N, attributes)."""
    with torch.no_grad():
        return torch.cat([torch.stack([h.argmax(1) for h in judge(b.float() / 127.5 - 1)], 1)
                          for b in images.split(batch_size)])


def conditional_accuracy(model, dataset: Dataset, judge, attribute_names: list[str], num_samples: int,
                         batch_size: int = 250, seed: int = 0, options: dict | None = None) -> dict:
    """Fraction of samples whose judged attributes match their conditions, per attribute and jointly,
    over the first `num_samples` examples of `dataset`."""
    kind = getattr(model, "conditions_on", None)
    if kind not in ("caption", "label"):
        raise ConfigError(f"{type(model).__name__} is unconditional; conditional accuracy needs a caption- or "
                          f"label-conditioned model (such as model=cvae)")
    n = min(num_samples, len(dataset))
    items = [dataset[i] for i in range(n)]
    images = generate_like(model, items, range(n), batch_size, base_seed=seed * 100_003, options=options)
    wanted = torch.stack([it["attrs"] for it in items])
    if kind == "label":
        attribute_names, wanted = attribute_names[:1], wanted[:, :1]
    predicted = judged_attributes(judge, images, batch_size)
    hits = predicted[:, :len(attribute_names)] == wanted
    result = {name: float(hits[:, i].double().mean()) for i, name in enumerate(attribute_names)}
    return {**result, "joint": float(hits.all(1).double().mean()), "num_images": n}
