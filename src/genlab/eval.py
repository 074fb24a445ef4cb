"""`python -m genlab.eval`: FID, KID, precision/recall and Inception Score of a checkpoint's samples (or a
folder of images) against a data set's real images, on judge or Inception features, and the conditional
accuracy of a conditioned model; prints a table, writes JSON.

Every number is computed one way: images quantised to uint8 as genlab writes PNGs, features from the
chosen extractor, float64 statistics. The real images' statistics (and features, for KID and precision/
recall) come from a cache keyed by everything they depend on. The JSON records the number of images, the
extractor and a hash of its weights, the data set, split and generator version, and the genlab version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError, exit_on_error
from genlab.utils.images import read_images
from genlab.utils.schema import EVAL

METRICS = EVAL["metrics"].values  # ("fid", "kid", "pr", "is", "cond_acc")


def data_config(cfg: DictConfig) -> DictConfig:
    if cfg.dataset is not None:
        from importlib import resources

        from genlab.utils.config import compose_train

        known = sorted(p.name[:-5] for p in resources.files("genlab.conf").joinpath("data").iterdir()
                       if p.name.endswith(".yaml"))
        if cfg.dataset not in known:
            raise ConfigError(f"dataset={cfg.dataset} is not a data config; use one of {known}")
        data = compose_train(f"data={cfg.dataset}",
                             *([f"data.root={cfg.data_root}"] if cfg.get("data_root") is not None else [])).data
        missing = [k for k in data if OmegaConf.is_missing(data, k)]
        if missing:
            raise ConfigError(f"dataset={cfg.dataset} needs data.{missing[0]}: give it as "
                              f"data_{missing[0]}=PATH (the folder of real images)")
        return data
    if cfg.ckpt_path is None:
        raise ConfigError("images_dir= needs dataset=NAME (the data set the images are compared with)")
    from genlab.utils.trusted import check_targets

    run_config = Path(cfg.ckpt_path).resolve().parent.parent / "config.yaml"
    if not run_config.is_file():
        raise ConfigError(f"no run config at {run_config} to tell the checkpoint's data set; pass dataset=NAME")
    try:
        data = OmegaConf.load(run_config).get("data")
    except Exception as exc:  # noqa: BLE001 - YAML, encoding and OS errors alike: the file is unusable
        raise ConfigError(f"{run_config} is not a readable run config ({type(exc).__name__}); pass "
                          f"dataset=NAME") from None
    if not isinstance(data, DictConfig) or "_target_" not in data:
        raise ConfigError(f"{run_config} has no data: section to tell the checkpoint's data set; pass dataset=NAME")
    check_targets({"data": data}, str(run_config))  # a run folder is data: nothing it names runs unchecked
    return data


def weights_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def extractor(cfg: DictConfig, judge: str | None, image_size: int, channels: int):
    from genlab.metrics.fid import JudgeFeatures
    from genlab.metrics.inception import InceptionFeatures
    from genlab.metrics.judges import JUDGE_DIR, load_judge

    if cfg.feature_extractor == "inception":
        net = InceptionFeatures(cfg.inception_weights)
        return net, weights_hash(net.weights_path)
    if judge is None:  # feature_extractor=judge (the schema allows nothing else)
        raise ConfigError("this data set has no judge network; use feature_extractor=inception")
    return JudgeFeatures(load_judge(judge, image_size, channels)), weights_hash(JUDGE_DIR / f"{judge}.safetensors")



def cache_dir(cfg: DictConfig) -> Path | None:
    from genlab.metrics.reference import default_cache_dir

    if not cfg.cache:
        return None
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_dir()


def check(cfg: DictConfig) -> list[str]:
    """Every value against genlab.utils.schema.EVAL, then the combinations; -> the metrics wanted."""
    from genlab.utils.schema import EVAL
    from genlab.utils.schema import check as check_values

    check_values(cfg, EVAL)
    wanted = list(cfg.metrics)
    if (cfg.ckpt_path is None) == (cfg.images_dir is None):
        raise ConfigError("give exactly one of ckpt_path= and images_dir=")
    if "cond_acc" in wanted and cfg.ckpt_path is None:
        raise ConfigError("metrics=[cond_acc] generates for given conditions, so it needs ckpt_path=, not images_dir=")
    return wanted


def evaluate(cfg: DictConfig) -> dict:
    import genlab
    from genlab.metrics.conditional import generate_like
    from genlab.metrics.reference import reference_key
    from genlab.utils.config import make
    from genlab.utils.generate_options import generate_options

    wanted = check(cfg)
    data_cfg = data_config(cfg)
    dm = make(data_cfg)
    judge_name = dm.judge
    net, digest = extractor(cfg, judge_name, dm.image_size, dm.channels)
    dm.setup()
    if cfg.split not in dm.datasets:
        raise ConfigError(f"split={cfg.split} is not a split of this data set; it has {sorted(dm.datasets)}")
    real_set = dm.datasets[cfg.split]
    n = min(cfg.num_samples, len(real_set))
    model = fake = None
    options: dict = {}
    if cfg.images_dir is not None:
        fake = read_images(Path(cfg.images_dir), dm.image_size, dm.channels)
        if len(fake) < n:
            note_fewer(cfg.num_samples, f"images_dir={cfg.images_dir} has {len(fake)} images", len(fake))
        elif n < cfg.num_samples:
            note_fewer(cfg.num_samples, f"the {cfg.split} split has {len(real_set)} images", n)
        n = min(n, len(fake))
        fake = fake[:n]
    else:
        if n < cfg.num_samples:
            note_fewer(cfg.num_samples, f"the {cfg.split} split has {len(real_set)} images", n)
        model = genlab.load(cfg.ckpt_path, map_location=cfg.device)
        options = generate_options(model, cfg.get("generate"))
    version = getattr(dm.source, "version", None)
    key = reference_key(data_cfg, version, cfg.split, cfg.feature_extractor, digest, n)
    folder, cache_status, values = cache_dir(cfg), None, {}
    if set(wanted) - {"cond_acc"}:
        if fake is None:
            fake = generate_like(model, real_set, range(n), cfg.batch_size, base_seed=cfg.seed * 100_003,
                                 options=options)
        values, cache_status = distribution_metrics(cfg, wanted, net, real_set, fake, key, folder)
    if "cond_acc" in wanted:
        values["cond_acc"] = cond_acc(cfg, model, dm, judge_name, n, options)
    return {**values, "num_images": n, "num_samples_requested": cfg.num_samples, "extractor": cfg.feature_extractor, "extractor_weights_sha256": digest,
            "data": type(dm.source).__name__, "split": cfg.split, "data_generator_version": version,
            "image_size": dm.image_size, "source": str(cfg.ckpt_path or cfg.images_dir),
            "reference_cache": str(folder / key) if folder else None, "reference_cache_status": cache_status,
            "genlab_version": genlab.__version__}


def evaluate_checkpoint(ckpt_path, **settings) -> dict:
    """`python -m genlab.eval` from Python (notebooks, the benchmark): the same settings as keyword
    arguments, `metrics=["fid", "kid", "pr", "cond_acc"]`, `num_samples=1000`, `generate={"steps": 20}`, ...;
    returns what the command writes to metrics.json."""
    from genlab.utils.config import compose_config

    overrides = [f"ckpt_path={Path(ckpt_path).as_posix()}"]
    for key, value in settings.items():
        if isinstance(value, dict):  # generate options: declared ones or new ones alike
            overrides += [f"++{key}.{k}={v}" for k, v in value.items()]
        else:
            overrides.append(f"{key}=[{','.join(map(str, value))}]" if isinstance(value, (list, tuple))
                             else f"{key}={value}")
    return evaluate(compose_config("eval", *overrides))


def note_fewer(requested: int, limit: str, used: int) -> None:
    """Say so when fewer images than num_samples are evaluated: FID and KID depend on the number."""
    import sys

    print(f"note: num_samples={requested} but {limit}: evaluating {used} (FID, KID and precision/recall "
          f"depend on the number of images; compare only results with the same num_images)", file=sys.stderr)


def distribution_metrics(cfg: DictConfig, wanted: list[str], net, real_set, fake: torch.Tensor, key: str,
                         folder: Path | None) -> tuple[dict, str]:
    """FID, KID, precision/recall and IS of uint8 `fake` against the first len(fake) images of `real_set`."""
    from genlab.metrics import (
        frechet_from_stats,
        gaussian_stats,
        inception_score,
        kernel_distance,
        precision_recall,
    )
    from genlab.metrics.reference import reference
    from genlab.utils.images import quantize

    def extract(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [net.features_and_logits(b.to(cfg.device)) for b in images.split(cfg.batch_size)]
        return tuple(torch.cat([p[i] for p in parts]).double().cpu() for i in (0, 1))

    n = len(fake)
    real_stats, real_f, status = reference(
        key, lambda: extract(quantize(torch.stack([real_set[i]["image"] for i in range(n)])))[0],
        need_features=bool({"kid", "pr"} & set(wanted)), cache_dir=folder)
    fake_f, fake_logits = extract(fake)
    values = {}
    if "fid" in wanted:
        values["fid"] = frechet_from_stats(*real_stats, *gaussian_stats(fake_f))
    if "kid" in wanted:
        values["kid"], values["kid_std"] = kernel_distance(real_f, fake_f, subsets=10,
                                                           subset_size=min(1000, max(2, n // 2)), seed=cfg.seed)
    if "pr" in wanted:
        values["precision"], values["recall"] = precision_recall(real_f, fake_f)
    if "is" in wanted:
        values["is"], values["is_std"] = inception_score(fake_logits, splits=min(cfg.is_splits, n), seed=cfg.seed)
    return values, status


def cond_acc(cfg: DictConfig, model, dm, judge_name: str | None, n: int, options: dict) -> dict:
    """Per attribute and joint, on the conditions of training examples and, where the data set holds some
    out, of the held-out shape x colour pairs."""
    from genlab.metrics.conditional import conditional_accuracy
    from genlab.metrics.judges import load_judge

    if judge_name is None:
        raise ConfigError("metrics=[cond_acc] reads attributes back with the data set's judge, and this data set "
                          "has none")
    judge = load_judge(judge_name, dm.image_size, dm.channels)
    return {split: conditional_accuracy(model, dm.datasets[split], judge, dm.attribute_names, n,
                                        batch_size=cfg.batch_size, seed=cfg.seed, options=options)
            for split in ("train", "heldout") if split in dm.datasets}


@hydra.main(version_base="1.3", config_path="pkg://genlab.conf", config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    with exit_on_error():
        result = evaluate(cfg)
        write_json(result, Path(cfg.out))
    print(f"{'metric':12} value   ({result['num_images']} images, {result['extractor']} features, "
          f"{result['data']} {result['split']})")
    for key in ("fid", "kid", "kid_std", "precision", "recall", "is", "is_std"):
        if key in result:
            print(f"{key:12} {result[key]:.6g}")
    for split, accuracy in result.get("cond_acc", {}).items():
        print(f"cond_acc {split:8} " + "  ".join(f"{k} {v:.3f}" for k, v in accuracy.items() if k != "num_images"))
    print(f"wrote {Path(cfg.out).resolve()}")


def write_json(result: dict, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as exc:  # checked writable at start-up; a full disk or a race remains
        raise ConfigError(f"out={path} cannot be written ({exc.strerror or type(exc).__name__})") from None


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
