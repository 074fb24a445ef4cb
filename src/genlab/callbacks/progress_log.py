"""Progress as plain lines, for logs: `step 150/2000 (7.5%)  4.8 steps/s  d_loss 1.234  g_loss 0.567  ETA 6m25s`.

Every `every_n_steps` steps, and once when training ends, one line goes to the `genlab.progress` logger (the
train entry point writes the `genlab` logger to RUN/train.log) and, when stdout is not a terminal (nohup,
SLURM, a pipe), to stdout as well, flushed, where the progress bar would otherwise leave nothing readable.
"""

from __future__ import annotations

import logging
import sys
import time

from pytorch_lightning import Callback
from pytorch_lightning.utilities import rank_zero_only

from genlab.errors import ConfigError

log = logging.getLogger("genlab.progress")

MAX_LOSSES = 4


def duration(seconds: float) -> str:
    """7.2 -> 7s, 432 -> 7m12s, 7380 -> 2h03m."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def losses(trainer) -> dict[str, float]:
    """Up to MAX_LOSSES values the model shows: its progress-bar metrics, else its train/* metrics."""
    shown = {k.removeprefix("train/"): v for k, v in trainer.progress_bar_metrics.items() if k != "v_num"}
    if not shown:
        shown = {k.removeprefix("train/"): v for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
    out = {}
    for key, value in shown.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
        if len(out) == MAX_LOSSES:
            break
    return out


class ProgressLog(Callback):
    def __init__(self, every_n_steps: int = 50):
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ConfigError(f"callbacks.progress_log.every_n_steps={every_n_steps!r} must be a positive integer")
        self.every_n_steps = every_n_steps
        self._start_time = self._last_time = 0.0
        self._start_step = self._last_step = 0

    def emit(self, line: str) -> None:
        log.info(line)
        if not sys.stdout.isatty():
            print(line, flush=True)

    @rank_zero_only
    def on_train_start(self, trainer, pl_module) -> None:
        self._start_time = self._last_time = time.monotonic()
        self._start_step = self._last_step = trainer.global_step  # not 0 when resuming

    @rank_zero_only
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or step == self._last_step:
            return
        now = time.monotonic()
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_step = now, step
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        parts = [f"step {step}/{total} ({100 * step / total:.1f}%)" if total else f"step {step}",
                 f"{rate:.3g} steps/s"]
        parts += [f"{k} {v:.4g}" for k, v in losses(trainer).items()]
        eta = [t for t in ((total - step) / rate if total else None, time_left(trainer)) if t is not None]
        if eta:
            parts.append(f"ETA {duration(min(eta))}")
        self.emit("  ".join(parts))

    @rank_zero_only
    def on_train_end(self, trainer, pl_module) -> None:
        step, elapsed = trainer.global_step, duration(time.monotonic() - self._start_time)
        done = step - self._start_step
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        what = f"{step} steps" if not self._start_step else f"{step} steps ({done} in this session)"
        if total and step < total:
            self.emit(f"stopped at step {step}/{total}: {done} steps in {elapsed}")
        else:
            self.emit(f"done: {what} in {elapsed}")


def time_left(trainer) -> float | None:
    """Seconds of `trainer.max_time` left (Lightning's Timer, which counts across resumes), or None."""
    from pytorch_lightning.callbacks import Timer

    timers = [c for c in trainer.callbacks if isinstance(c, Timer)]
    return timers[0].time_remaining("train") if timers else None
