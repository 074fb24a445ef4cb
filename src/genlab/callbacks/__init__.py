"""Callbacks genlab adds to Lightning's: sample grids, complete `last.ckpt`, exact resume, progress lines."""

from genlab.callbacks.checkpoint import Checkpoint
from genlab.callbacks.divergence import DivergenceGuard
from genlab.callbacks.periodic_judge_fid import JudgeFID
from genlab.callbacks.preemption import Preemption
from genlab.callbacks.progress import StepProgressBar
from genlab.callbacks.progress_log import ProgressLog
from genlab.callbacks.resume import ResumeState
from genlab.callbacks.samples import SampleGrid

__all__ = ["Checkpoint", "DivergenceGuard", "JudgeFID", "Preemption", "ProgressLog", "ResumeState", "SampleGrid", "StepProgressBar"]
