"""`python -m genlab.eval`: FID, KID and precision/recall of a checkpoint's samples (or a folder of
images) against a data set's real images, on judge or Inception features; prints a table, writes JSON.

Every number is computed one way: images quantised to uint8 as genlab writes PNGs, features from the
chosen extractor, float64 statistics. The JSON records the number of images, the extractor and a hash of
its weights, the data set, split and generator version, and the genlab version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import default_collate

from genlab.errors import ConfigError, exit_on_error

METRICS = ("fid", "kid", "pr")


def data_config(cfg: DictConfig) -> DictConfig:
    if cfg.dataset is not None:
        from genlab.utils.config import compose_train

        return compose_train(f"data={cfg.dataset}").data
    if cfg.ckpt_path is None:
        raise ConfigError("images_dir= needs dataset=NAME (the data set the images are compared with)")
    run_config = Path(cfg.ckpt_path).resolve().parent.parent / "config.yaml"
    if not run_config.is_file():
        raise ConfigError(f"no run config at {run_config} to tell the checkpoint's data set; pass dataset=NAME")
    return OmegaConf.load(run_config).data


def weights_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def extractor(cfg: DictConfig, judge: str | None):
    from genlab.metrics.fid import JudgeFeatures
    from genlab.metrics.inception import InceptionFeatures
    from genlab.metrics.judges import JUDGE_DIR, load_judge

    if cfg.feature_extractor == "inception":
        net = InceptionFeatures(cfg.inception_weights)
        return net, weights_hash(net.weights_path)
    if cfg.feature_extractor == "judge":
        if judge is None:
            raise ConfigError("this data set has no judge network; use feature_extractor=inception")
        return JudgeFeatures(load_judge(judge)), weights_hash(JUDGE_DIR / f"{judge}.safetensors")
    raise ConfigError(f"feature_extractor={cfg.feature_extractor!r} is not known; use judge or inception")


def read_images(folder: Path, size: int, channels: int) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    files = sorted(p for p in folder.rglob("*.png"))
    if not files:
        raise ConfigError(f"images_dir={folder} holds no PNG images")
    images = []
    for path in files:
        with Image.open(path) as img:
            if img.size != (size, size):
                raise ConfigError(f"{path} is {img.size[0]}x{img.size[1]}; the data set is {size}x{size}")
            arr = np.asarray(img.convert("RGB" if channels == 3 else "L"))
        images.append(torch.from_numpy(arr.copy()).reshape(size, size, channels).permute(2, 0, 1))
    return torch.stack(images)


def evaluate(cfg: DictConfig) -> dict:
    import genlab
    from genlab.metrics import frechet_distance, kernel_distance, precision_recall
    from genlab.metrics.judge_fid import quantize
    from genlab.utils.config import make

    wanted = list(cfg.metrics)
    if not wanted or any(m not in METRICS for m in wanted):
        raise ConfigError(f"metrics={wanted} must be a non-empty list of {list(METRICS)}")
    if not isinstance(cfg.num_samples, int) or cfg.num_samples < 2:
        raise ConfigError(f"num_samples={cfg.num_samples!r} must be an integer of at least 2")
    if (cfg.ckpt_path is None) == (cfg.images_dir is None):
        raise ConfigError("give exactly one of ckpt_path= and images_dir=")
    data_cfg = data_config(cfg)
    dm = make(data_cfg)
    net, digest = extractor(cfg, data_cfg.get("judge") or dm.source.judge)
    dm.setup()
    if cfg.split not in dm.datasets:
        raise ConfigError(f"split={cfg.split} is not a split of this data set; it has {sorted(dm.datasets)}")
    real_set = dm.datasets[cfg.split]
    n = min(cfg.num_samples, len(real_set))
    items = [real_set[i] for i in range(n)]
    real = quantize(torch.stack([it["image"] for it in items]))

    if cfg.images_dir is not None:
        fake = read_images(Path(cfg.images_dir), dm.image_size, dm.channels)
        n = min(n, len(fake))
        real, fake = real[:n], fake[:n]
    else:
        model = genlab.load(cfg.ckpt_path, map_location=cfg.device)
        chunks = []
        for k, start in enumerate(range(0, n, cfg.batch_size)):
            part = items[start:start + cfg.batch_size]
            cond = model.condition_from_batch(default_collate(part))
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + k)
            chunks.append(quantize(model.generate(len(part), condition=cond, generator=gen).cpu()))
        fake = torch.cat(chunks)

    def features(images):
        return torch.cat([net(b.to(cfg.device)).double().cpu() for b in images.split(cfg.batch_size)])

    real_f, fake_f = features(real), features(fake)
    values = {}
    if "fid" in wanted:
        values["fid"] = frechet_distance(real_f, fake_f)
    if "kid" in wanted:
        values["kid"], values["kid_std"] = kernel_distance(real_f, fake_f, subsets=10, subset_size=min(1000, max(2, n // 2)),
                                                           seed=cfg.seed)
    if "pr" in wanted:
        values["precision"], values["recall"] = precision_recall(real_f, fake_f)
    source = getattr(dm.source, "version", None)
    return {**values, "num_images": n, "extractor": cfg.feature_extractor, "extractor_weights_sha256": digest,
            "data": type(dm.source).__name__, "split": cfg.split, "data_generator_version": source,
            "image_size": dm.image_size, "source": str(cfg.ckpt_path or cfg.images_dir),
            "genlab_version": genlab.__version__}


@hydra.main(version_base="1.3", config_path="pkg://genlab.conf", config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    with exit_on_error():
        result = evaluate(cfg)
    print(f"{'metric':12} value   ({result['num_images']} images, {result['extractor']} features, "
          f"{result['data']} {result['split']})")
    for key in ("fid", "kid", "kid_std", "precision", "recall"):
        if key in result:
            print(f"{key:12} {result[key]:.6g}")
    Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {Path(cfg.out).resolve()}")


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
