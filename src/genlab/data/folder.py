"""`folder`: any directory of images, searched recursively, with optional captions from captions.jsonl."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from genlab.data.base import Source, SourceDataset
from genlab.errors import ConfigError, CorruptDataError, DataUnavailableError
from genlab.utils.images import to_image_tensor

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def read_captions(path: Path) -> dict[str, str]:
    """captions.jsonl: one `{"file": ..., "caption": ...}` a line, file relative to the folder."""
    if path.is_dir():
        raise ConfigError(f"folder: {path} is a directory; captions.jsonl must be a file of JSON lines "
                          f"(rename or remove that directory)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptDataError(f"folder: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise CorruptDataError(f"folder: cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    captions = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            captions[str(entry["file"])] = str(entry["caption"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} line {number} is not a JSON object with \"file\" and \"caption\" "
                              f"({type(exc).__name__}: {exc}); fix or remove that line") from None
    return captions


class Folder(Source):
    """Every image under `root`. Each file is opened once at set-up, so a corrupt one fails early, by name."""

    def __init__(self, root: str, image_size: int = 32, channels: int = 3, skip_corrupt: bool = False,
                 default_caption: str = ""):
        self.root = Path(root).expanduser()
        self.image_size, self.channels = image_size, channels
        if not self.root.is_dir():
            raise DataUnavailableError(f"folder: data.root={self.root} is not a directory; "
                                       f"point it at a folder of images")
        files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
        if not files:
            raise DataUnavailableError(f"folder: no images ({', '.join(sorted(EXTENSIONS))}) under {self.root}; "
                                       f"put images there or fix data.root")
        good, bad = [], []
        for path in files:
            try:
                with Image.open(path) as img:
                    img.load()
                good.append(path)
            except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
                # a decompression bomb (a header claiming more than 2 x Image.MAX_IMAGE_PIXELS) is no OSError
                if not skip_corrupt:
                    raise CorruptDataError(f"folder: cannot read image {path} ({type(exc).__name__}: {exc}); "
                                           f"remove it or set data.skip_corrupt=true") from None
                bad.append(path)
        if bad:
            warnings.warn(f"folder: skipped {len(bad)} unreadable image(s) under {self.root}, "
                          f"for example {bad[0]}", stacklevel=2)
        if not good:
            raise DataUnavailableError(f"folder: every image under {self.root} is unreadable")
        self.files = good
        captions_file = self.root / "captions.jsonl"
        captions = read_captions(captions_file) if captions_file.exists() or captions_file.is_symlink() else {}
        self.captions = [captions.get(p.relative_to(self.root).as_posix(), default_caption) for p in good]

    def splits(self) -> list[str]:
        return ["train"]

    def dataset(self, split: str) -> Dataset:
        return SourceDataset(self, split, len(self.files))

    def item(self, split: str, index: int) -> dict:
        import torch

        with Image.open(self.files[index]) as img:
            image = to_image_tensor(img, self.image_size, self.channels)
        return {"image": image, "label": -1, "attrs": torch.zeros(0, dtype=torch.int64),
                "caption": self.captions[index]}
