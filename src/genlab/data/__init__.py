"""Data sets and the shared datamodule. Each data set is one file here and one YAML under conf/data/."""

from genlab.data.datamodule import GenDataModule

__all__ = ["GenDataModule"]
