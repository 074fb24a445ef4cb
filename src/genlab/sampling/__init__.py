"""Sampling written once for every family that needs it: the autoregressive loop and guidance."""

from genlab.sampling.autoregressive import check_sampling_options, filter_logits, sample_sequence
from genlab.sampling.guidance import guide

__all__ = ["check_sampling_options", "filter_logits", "guide", "sample_sequence"]
