"""Callbacks genlab adds to Lightning's: sample grids, complete `last.ckpt`, RNG state in checkpoints."""

from genlab.callbacks.checkpoint import Checkpoint
from genlab.callbacks.progress import StepProgressBar
from genlab.callbacks.rng import RNGState
from genlab.callbacks.samples import SampleGrid

__all__ = ["Checkpoint", "RNGState", "SampleGrid", "StepProgressBar"]
