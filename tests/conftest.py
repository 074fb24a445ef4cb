"""Shared fixtures: composing the real config tree with tiny sizes so that tests run in seconds on CPU."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from genlab.utils.config import QUICK_MODEL

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `-n 2` (the README's test command): one thread per worker and for the processes it starts, so the two
    # workers share the 2 cores instead of fighting over them
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Small networks and data for every test that trains. Model sizes apply to whichever settings a model has.
TINY_MODEL = QUICK_MODEL  # small networks and schedules (genlab.utils.config)
TINY = [
    "data.batch_size=16", "data.num_workers=0",
    "trainer.accelerator=cpu", "trainer.limit_val_batches=1", "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false", "callbacks.progress_bar=null",
]
TINY_SHAPES = ["data.source.num_train=128", "data.source.num_val=32", "data.source.num_heldout=32"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Evaluations cache reference statistics here, never in the user's cache directory."""
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path_factory.mktemp("genlab-cache")))


@pytest.fixture
def make_cfg(tmp_path):
    """compose(overrides) -> a config whose run writes under tmp_path/run."""

    def _compose(overrides=(), tiny=True, output_dir=None):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
            extra = list(TINY) if tiny else []
            if tiny and not any(o.startswith(("data=", "experiment=")) and o != "data=shapes" for o in overrides):
                extra += TINY_SHAPES
            out = output_dir or tmp_path / "run"
            overrides = [*extra, f"paths.output_dir={out}", *overrides]
            if tiny:
                keys = compose("train", overrides=overrides).model
                given = {o.split("=")[0] for o in overrides}
                overrides = [f"model.{k}={v}" for k, v in TINY_MODEL.items()
                             if OmegaConf.select(keys, k) is not None and f"model.{k}" not in given] + overrides
            return compose("train", overrides=overrides, return_hydra_config=False)

    yield _compose
    GlobalHydra.instance().clear()


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m genlab.train ARGS` (or another module given as --module=NAME) in a subprocess."""
    module = "genlab.train"
    if args and args[0].startswith("--module="):
        module, args = args[0].split("=", 1)[1], args[1:]
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def compose_tiny(overrides) -> object:
    """The training config composed with these overrides (no tiny defaults added), outside any Hydra run."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


def cli(module: str, *args: str, cwd: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """`python -m MODULE ARGS` in this process, in `cwd`: (exit status, stdout, stderr)."""
    from hydra.core.global_hydra import GlobalHydra

    capsys.readouterr()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setattr(sys, "argv", [f"{module}.py", *map(str, args)])
    GlobalHydra.instance().clear()
    try:
        importlib.import_module(module).main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_sentence(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in expected:
        assert part in lines[0], (part, lines[0])


@pytest.fixture
def run_inproc(capsys, monkeypatch):
    """`run_cli`'s signature and result, run in this process (seconds faster than a new interpreter)."""

    def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        module = "genlab.train"
        if args and args[0].startswith("--module="):
            module, args = args[0].split("=", 1)[1], args[1:]
        code, out, err = cli(module, *args, cwd=cwd or ROOT, capsys=capsys, monkeypatch=monkeypatch)
        return subprocess.CompletedProcess([module, *args], code, out, err)

    return _run
