"""Image helpers shared across genlab: [-1, 1] float images to uint8 exactly as the PNG writer rounds
them, sample grids and their files, PIL images to tensors (data sets), and PNG folders back to tensors
(genlab.eval images_dir=)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid, save_image

from genlab.errors import ConfigError, CorruptDataError


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 with exactly the arithmetic of genlab's PNG writer (torchvision's make_grid
    with value_range (-1, 1), then save_image), so in-memory and saved images quantise identically."""
    x = images.detach().float().clamp(-1, 1).add(1).div(2)
    return x.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def image_grid(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> one (3 or 1, H', W') grid in [0, 1]."""
    nrow = nrow or max(1, int(math.sqrt(images.shape[0])))
    return make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)


def to_uint8(grid: torch.Tensor) -> torch.Tensor:
    """A grid in [0, 1] -> uint8 in 0..255, rounded as `save_image` rounds, so logged grids match the PNGs."""
    return grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(image_grid(images, nrow), path)
    return path


def to_image_tensor(img: Image.Image | np.ndarray, image_size: int, channels: int) -> torch.Tensor:
    """PIL image or HxW(xC) uint8 array -> float (C, S, S) in [-1, 1]: resize shorter side, centre crop."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    img = img.convert("RGB" if channels == 3 else "L")
    w, h = img.size
    if (w, h) != (image_size, image_size):
        scale = image_size / min(w, h)
        nw, nh = max(image_size, round(w * scale)), max(image_size, round(h * scale))
        img = img.resize((nw, nh), Image.BICUBIC if scale > 1 else Image.LANCZOS)
        left, top = (nw - image_size) // 2, (nh - image_size) // 2
        img = img.crop((left, top, left + image_size, top + image_size))
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(127.5).sub(1.0)


def read_images(folder: Path, size: int, channels: int) -> torch.Tensor:
    """Every PNG under `folder` (sorted by path) -> uint8 (N, C, size, size); one sentence for a missing,
    wrongly sized or unreadable image (`genlab.eval images_dir=`)."""
    from PIL import UnidentifiedImageError

    files = sorted(p for p in folder.rglob("*.png"))
    if not files:
        raise ConfigError(f"images_dir={folder} holds no PNG images")
    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                if img.size != (size, size):
                    raise ConfigError(f"{path} is {img.size[0]}x{img.size[1]}; the data set is {size}x{size}")
                arr = np.asarray(img.convert("RGB" if channels == 3 else "L"))
        except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
            raise CorruptDataError(f"images_dir: cannot read image {path} ({type(exc).__name__}: {exc}); remove "
                                   f"it or write the images again") from None
        images.append(torch.from_numpy(arr.copy()).reshape(size, size, channels).permute(2, 0, 1))
    return torch.stack(images)


def plot_grid(images: torch.Tensor, title: str | None = None, ax=None, nrow: int | None = None):
    """Show (N, C, H, W) images in [-1, 1] as one grid with matplotlib (notebooks); returns the axes."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_grid needs matplotlib: pip install matplotlib") from None
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(image_grid(images, nrow).permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax
