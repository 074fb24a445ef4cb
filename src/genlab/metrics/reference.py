"""Features and statistics of a data set's real images, cached on disk so that evaluating many checkpoints
against the same reference extracts its features once.

A cache entry is named by everything its numbers depend on: the data source and a hash of its settings,
split, image size, generator version (procedural data), extractor and a hash of its weights, and number
of images. Statistics are always kept; the features themselves only once a metric that needs them (KID,
precision/recall) has asked. Files are written atomically; one that cannot be read is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from genlab.metrics.frechet import gaussian_stats
from genlab.utils.files import atomic_replace


def default_cache_dir() -> Path:
    """$GENLAB_CACHE, else $XDG_CACHE_HOME/genlab, else ~/.cache/genlab."""
    if os.environ.get("GENLAB_CACHE"):
        return Path(os.environ["GENLAB_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genlab"


def reference_key(data_cfg: DictConfig, version, split: str, extractor: str, weights_hash: str, n: int) -> str:
    source = OmegaConf.to_container(data_cfg.source, resolve=True)
    settings = {"source": source, **{k: data_cfg.get(k) for k in ("image_size", "channels", "val_fraction",
                                                                    "split_seed")}}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
    name = str(source["_target_"]).rsplit(".", 1)[-1].lower()
    return (f"{name}-{split}-{data_cfg.image_size}px-v{version if version is not None else 0}-{extractor}-"
            f"{weights_hash[:12]}-n{n}-{digest}")


def _load(path: Path, *keys: str) -> dict | None:
    """The entry at `path`, or None where it is absent, truncated or foreign (it is then recomputed)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        return None
    return obj if isinstance(obj, dict) and all(isinstance(obj.get(k), torch.Tensor) for k in keys) else None


def _save(path: Path, obj: dict) -> None:
    """Write atomically; a cache that cannot be written costs time, not the evaluation."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(obj, tmp)
        atomic_replace(str(tmp), str(path))
    except OSError as exc:
        print(f"warning: could not write the reference cache {path} ({exc.strerror or exc}); set cache_dir= to a "
              f"writable folder or cache=false", file=sys.stderr)


def reference(key: str, compute: Callable[[], torch.Tensor], need_features: bool,
              cache_dir: Path | None) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor | None, str]:
    """((mean, cov), features or None, "hit" | "miss" | "off") for the real images behind `key`;
    `compute()` extracts their (N, D) float64 features when the cache cannot answer."""
    if cache_dir is None:
        features = compute()
        return gaussian_stats(features), features, "off"
    stats_path, features_path = cache_dir / f"{key}.stats.pt", cache_dir / f"{key}.features.pt"
    stats = _load(stats_path, "mean", "cov")
    features = _load(features_path, "features") if need_features else None
    if stats is not None and (not need_features or features is not None):
        feats = features["features"].double() if features is not None else None
        return (stats["mean"], stats["cov"]), feats, "hit"
    feats = compute()
    mean, cov = gaussian_stats(feats)
    _save(stats_path, {"mean": mean, "cov": cov, "num_images": feats.shape[0], "key": key})
    if need_features:
        # float32 where that is exact (extractors emit float32), so the cache stays half the size
        stored = feats.float() if feats.float().double().equal(feats) else feats
        _save(features_path, {"features": stored, "key": key})
    return (mean, cov), feats, "miss"
