"""ProgressLog: a progress line every N steps (and one at the end) in the genlab.progress logger, and on
stdout when stdout is not a terminal."""

from __future__ import annotations

import logging
import re
import sys

import pytest

from genlab.callbacks import ProgressLog
from genlab.callbacks.progress_log import duration
from genlab.utils.config import make

LINE = re.compile(r"step (\d+)/(\d+) \((\d+\.\d)%\)  (\S+) steps/s  (.*)  ETA (\S+)")
DONE = re.compile(r"done: (\d+) steps in (\S+)")


def seconds(text: str) -> int:
    """The inverse of `duration`: 7s, 7m12s, 2h03m -> seconds."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    assert m and text, text
    h, mi, s = (int(g or 0) for g in m.groups())
    return 3600 * h + 60 * mi + s


@pytest.fixture
def progress_records(caplog, monkeypatch):
    """The records of the genlab.progress logger, however the `genlab` logger was left by other tests
    (train() stops it propagating to the root logger, where caplog listens)."""
    logger = logging.getLogger("genlab.progress")
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "disabled", False)  # an in-process genlab.eval's logging config disables loggers
    caplog.set_level(logging.INFO, logger="genlab.progress")
    logger.addHandler(caplog.handler)
    yield lambda: [r for r in caplog.records if r.name == "genlab.progress"]
    logger.removeHandler(caplog.handler)


def fit(make_cfg, max_steps=6, every=2, extra=()):
    # 8 steps an epoch: no validation; no progress bar, which would write on stdout
    cfg = make_cfg([f"trainer.max_steps={max_steps}", f"callbacks.progress_log.every_n_steps={every}",
                    "callbacks.samples=null", "logger=none", "+trainer.enable_progress_bar=false", *extra])
    datamodule, model = make(cfg.data), make(cfg.model)
    callbacks = [make(c) for c in cfg.callbacks.values() if c is not None and "_target_" in c]
    trainer = make(cfg.trainer, callbacks=callbacks, logger=False)
    trainer.fit(model, datamodule=datamodule)
    return trainer


def test_lines_on_stdout_and_in_the_log(make_cfg, capsys, progress_records):
    capsys.readouterr()
    trainer = fit(make_cfg)
    assert sum(isinstance(c, ProgressLog) for c in trainer.callbacks) == 1  # from conf/callbacks/default.yaml
    lines = capsys.readouterr().out.splitlines()
    assert [r.getMessage() for r in progress_records()] == lines
    assert all(r.levelno == logging.INFO for r in progress_records())
    assert len(lines) == 4, lines
    parsed = [LINE.fullmatch(line) for line in lines[:3]]
    assert all(parsed), lines
    assert [(int(m[1]), int(m[2]), m[3]) for m in parsed] == [(2, 6, "33.3"), (4, 6, "66.7"), (6, 6, "100.0")]
    for m in parsed:
        rate, eta = float(m[4]), seconds(m[6])
        assert rate > 0
        assert abs(eta - (6 - int(m[1])) / rate) <= 1  # the ETA is the steps left at the last interval's rate
        found = dict(pair.split(" ") for pair in m[5].split("  "))
        assert list(found) == ["d_loss", "g_loss"]  # what the GAN shows in its progress bar
        assert all(isinstance(float(v), float) for v in found.values())
    last = dict(pair.split(" ") for pair in parsed[-1][5].split("  "))
    assert last == {k.removeprefix("train/"): f"{float(v):.4g}" for k, v in trainer.progress_bar_metrics.items()}
    assert seconds(parsed[-1][6]) == 0
    done = DONE.fullmatch(lines[3])
    assert done and int(done[1]) == 6 and seconds(done[2]) >= 0


def test_a_wall_clock_limit_sets_the_eta(make_cfg, capsys, progress_records):
    """trainer.max_time without a step limit: the ETA is the time left of it (Lightning's Timer)."""
    capsys.readouterr()
    fit(make_cfg, max_steps=-1, extra=["trainer.max_epochs=1", "trainer.max_time=00:00:10:00"])
    lines = capsys.readouterr().out.splitlines()
    etas = [re.fullmatch(r"step (\d+)  \S+ steps/s  .*  ETA (\S+)", line) for line in lines[:4]]
    assert all(etas), lines
    assert all(540 <= seconds(m[2]) <= 600 for m in etas), lines  # 10 minutes less the seconds spent


def test_terminal_gets_nothing_the_log_gets_the_lines(make_cfg, capsys, progress_records, monkeypatch):
    capsys.readouterr()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    fit(make_cfg)
    assert capsys.readouterr().out == ""
    messages = [r.getMessage() for r in progress_records()]
    assert [int(LINE.fullmatch(m)[1]) for m in messages[:3]] == [2, 4, 6]
    assert len(messages) == 4 and DONE.fullmatch(messages[3])


def test_duration():
    assert [duration(s) for s in (0, 7.4, 59.6, 432, 3599, 7380)] == ["0s", "7s", "1m00s", "7m12s", "59m59s", "2h03m"]
