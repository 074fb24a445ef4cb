"""The package ships its config tree and every subpackage; the console script is declared."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    found = {"genlab." + ".".join(p.parent.relative_to(ROOT / "src" / "genlab").parts)
             for p in (ROOT / "src" / "genlab").rglob("__init__.py")}
    found = {f.rstrip(".") for f in found}
    assert found | {"genlab.conf", "hydra_plugins.genlab_sweepers"} == listed


def test_config_tree_is_the_package_genlab_conf():
    files = importlib.resources.files("genlab.conf")
    assert (files / "train.yaml").is_file()
    groups = {p.name for p in files.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert {"model", "data", "trainer", "logger", "callbacks", "paths", "experiment", "hparams_search"} <= groups
    assert pyproject()["tool"]["setuptools"]["package-dir"]["genlab.conf"] == "conf"


def test_console_script_and_pins():
    project = pyproject()["project"]
    assert project["scripts"]["genlab-train"] == "genlab.train:main"
    pins = (ROOT / "constraints.txt").read_text()
    for pin in ["torch==2.14.1", "torchvision==0.29.1", "pytorch-lightning==2.6.6", "hydra-core==1.3.8",
                "omegaconf==2.3.1", "torchmetrics==1.9.0", "torch_fidelity==0.4.0", "wandb==0.31.0"]:
        assert pin.lower().replace("_", "-") in pins.lower().replace("_", "-"), pin
    torch_range = next(d for d in project["dependencies"] if d.startswith("torch>"))
    assert "<2.15" in torch_range  # nothing may pull another torch than the one on disk
