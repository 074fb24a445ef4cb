"""Small helpers for the entry points: loggers, run metadata."""
