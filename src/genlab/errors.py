"""Errors a user can fix. The entry points print their message as one sentence and exit non-zero."""


class GenlabError(Exception):
    """Base class: something the user can fix, described in one sentence."""


class ConfigError(GenlabError, ValueError):
    """A configuration value is invalid; the message names the option and what to do."""


class DataUnavailableError(GenlabError, FileNotFoundError):
    """A data set's files are absent and could not be downloaded."""


class CorruptDataError(GenlabError):
    """An input file could not be read; the message names the file."""
