"""genlab: pluggable generative models on PyTorch Lightning and Hydra.

    import genlab
    model = genlab.load("outputs/.../checkpoints/last.ckpt")
    images = model.generate(16, generator=0)   # (16, C, H, W) in [-1, 1]
    genlab.export(model, "exported/")          # safetensors + JSON config; genlab.load("exported/")
"""

from importlib import metadata

try:
    __version__ = metadata.version("genlab")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from genlab.load import export, load

__all__ = ["__version__", "export", "load"]
