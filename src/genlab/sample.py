"""`python -m genlab.sample`: images from any genlab checkpoint, as a grid or single PNGs.

Modes: `sample` (the model's `generate`, given the options `generate.*`), `interpolate` (rows of latent
interpolations between pairs of samples), `traverse` (VAE family: one latent dimension varied at a time,
one row each).
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError, exit_on_error
from genlab.utils.generate_options import generate_options


def read_prompts(cfg: DictConfig, n: int) -> list[str] | None:
    if cfg.prompt is not None and cfg.prompts_file is not None:
        raise ConfigError("give prompt= or prompts_file=, not both")
    if cfg.prompt is not None:
        return [str(cfg.prompt)] * n
    if cfg.prompts_file is not None:
        path = Path(cfg.prompts_file)
        if path.is_dir():
            raise ConfigError(f"prompts_file={path} is a directory; give a text file with one caption a line")
        if not path.is_file():
            raise ConfigError(f"prompts_file={path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"prompts_file={path} is not UTF-8 text; save it as UTF-8, one caption a line") from None
        except OSError as exc:
            raise ConfigError(f"prompts_file={path} cannot be read ({exc.strerror or type(exc).__name__})") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise ConfigError(f"prompts_file={path} has no prompts (one caption a line)")
        return [lines[i % len(lines)] for i in range(n)]
    return None


def conditions_for(model, prompts: list[str] | None, ckpt_path: str):
    if prompts is not None and not model.conditional:
        raise ConfigError(f"{ckpt_path} holds an unconditional {type(model).__name__}, which takes no prompt; "
                          f"drop prompt= / prompts_file=")
    if prompts is None and model.conditional:
        raise ConfigError(f"{ckpt_path} holds a conditional {type(model).__name__}: give prompt=... or "
                          f"prompts_file=...")
    return model.condition_from_prompts(prompts) if prompts is not None else None


def check_mode(model, mode: str, options: dict) -> None:
    """Refuse a mode the model cannot do, and `generate.*` options outside mode=sample, before generating."""
    if options and mode != "sample":
        raise ConfigError(f"generate.{next(iter(options))}= applies to mode=sample only; drop it for mode={mode}")
    if mode == "interpolate" and not (hasattr(model, "sample_latent") and hasattr(model, "decode_latent")):
        raise ConfigError(f"mode=interpolate needs a model with a latent space (GAN, autoencoders, VAEs); "
                          f"{type(model).__name__} has none: use mode=sample")


def interpolate(model, n: int, steps: int, condition, seed: int) -> torch.Tensor:
    rows = max(1, n // steps)
    gen = torch.Generator().manual_seed(seed)
    ends = model.sample_latent(2 * rows, gen, None)
    t = torch.linspace(0, 1, steps, device=ends.device).view(1, steps, 1)
    z = (ends[:rows, None] * (1 - t) + ends[rows:, None] * t).flatten(0, 1)
    cond = None if condition is None else [condition[r] for r in range(rows) for _ in range(steps)]
    if cond is not None and isinstance(condition, torch.Tensor):
        cond = torch.stack(cond)
    return model.decode_latent(z, cond).clamp(-1, 1)


def traverse(model, dims: int, steps: int, span: float, condition, seed: int) -> torch.Tensor:
    from genlab.models.vae import VAE

    if not isinstance(model, VAE):
        raise ConfigError(f"mode=traverse needs a model of the VAE family (vae, beta_vae, cvae), "
                          f"not {type(model).__name__}")
    dims = min(dims, model.hparams.latent_dim)
    base = model.sample_latent(1, torch.Generator().manual_seed(seed))
    values = torch.linspace(-span, span, steps, device=base.device)
    z = base.repeat(dims * steps, 1)
    for d in range(dims):
        z[d * steps:(d + 1) * steps, d] = values
    cond = None
    if condition is not None:
        cond = [condition[0]] * (dims * steps) if not isinstance(condition, torch.Tensor) else \
            condition[:1].repeat(dims * steps)
    return model.decode_latent(z, cond).clamp(-1, 1)


def sample(cfg: DictConfig) -> Path:
    import genlab
    from genlab.load import load
    from genlab.utils.schema import SAMPLE, check

    if OmegaConf.is_missing(cfg, "ckpt_path") or cfg.ckpt_path is None or cfg.ckpt_path == "":
        raise ConfigError("ckpt_path= is required: the checkpoint (.ckpt file) or exported folder to sample from, "
                          "such as ckpt_path=RUN/checkpoints/last.ckpt")
    check(cfg, SAMPLE)  # every value, before anything is loaded or written
    n = cfg.num_samples
    prompts = read_prompts(cfg, n)
    model = load(cfg.ckpt_path, map_location=cfg.device)
    condition = conditions_for(model, prompts, cfg.ckpt_path)
    options = generate_options(model, cfg.generate)
    check_mode(model, cfg.mode, options)
    with torch.no_grad():
        if cfg.mode == "sample":
            images, nrow = model.generate(n, condition=condition, generator=cfg.seed, **options), cfg.nrow
        elif cfg.mode == "interpolate":
            images, nrow = interpolate(model, n, cfg.steps, condition, cfg.seed), cfg.nrow or cfg.steps
        else:
            images, nrow = traverse(model, cfg.dims, cfg.steps, cfg.span, condition, cfg.seed), cfg.nrow or cfg.steps
    try:
        return write(images, str(cfg.out), nrow, genlab.__version__)
    except OSError as exc:  # checked writable at start-up; a full disk or a race remains
        raise ConfigError(f"out={cfg.out} cannot be written ({exc.strerror or type(exc).__name__})") from None


def write(images: torch.Tensor, out: str, nrow: int | None, version: str) -> Path:
    from genlab.utils.images import save_grid

    if out.endswith("/") or Path(out).is_dir():
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            save_grid(image[None], folder / f"{i:04d}.png", nrow=1)
        print(f"wrote {len(images)} images to {folder.resolve()} (genlab {version})")
        return folder
    path = save_grid(images, out, nrow)
    print(f"wrote a grid of {len(images)} images to {path.resolve()}")
    return path


@hydra.main(version_base="1.3", config_path="pkg://genlab.conf", config_name="sample")
def _hydra_main(cfg: DictConfig) -> None:
    with exit_on_error():
        sample(cfg)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
