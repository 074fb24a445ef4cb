"""Errors a user can fix. The entry points print their message as one sentence and exit non-zero."""


import sys
from contextlib import contextmanager


class GenlabError(Exception):
    """Base class: something the user can fix, described in one sentence."""


@contextmanager
def exit_on_error():
    """For entry points: a GenlabError becomes `error: <sentence>` on stderr and exit status 2."""
    try:
        yield
    except GenlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


class ConfigError(GenlabError, ValueError):
    """A configuration value is invalid; the message names the option and what to do."""


class DataUnavailableError(GenlabError, FileNotFoundError):
    """A data set's files are absent and could not be downloaded."""


class CorruptDataError(GenlabError):
    """An input file could not be read; the message names the file."""
