"""The documentation site: docs/ is its pages, built with `mkdocs build --strict` (a broken link, a missing
snippet or an API name that no longer exists fails it); the configuration reference is generated from
conf/ and must be current."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genlab.utils.config_reference import reference

ROOT = Path(__file__).resolve().parents[1]


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    # not -q: quiet mode hides the warnings that strict mode counts
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def nav_pages() -> set[str]:
    text = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    return {next(iter(item.values())) for item in yaml.safe_load(text)}


def test_the_configuration_reference_is_generated_from_the_config_tree():
    page = (ROOT / "docs" / "config_reference.md").read_text()
    assert page == reference(ROOT / "conf"), \
        "docs/config_reference.md is stale: run `python -m genlab.utils.config_reference` and commit it"
    for option in ("`model=flow`", "`model/unet=small`", "`data=shapes`", "`trainer=ddp`"):
        assert option in page


def test_every_page_of_docs_is_in_the_site_nav():
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert nav_pages() == pages


def test_the_site_builds_strictly(tmp_path):
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    add = (tmp_path / "site" / "add_a_model" / "index.html").read_text()
    assert "TIME_SCALE" in add and "ema_update" in add  # the snippet included the real file, not a copy
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "genlab.load.load" in api and "Diffusion" in api
    assert (tmp_path / "site" / "config_reference" / "index.html").stat().st_size > 10_000


@pytest.mark.parametrize("breakage", ["link", "api"])
def test_a_broken_page_fails_the_build(tmp_path, breakage):
    """Strict mode is what makes the build a check: a dead link or a vanished API name is an error."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("__pycache__"))
    page = root / "docs" / "errors.md"
    page.write_text(page.read_text() + ("\nSee [the missing page](missing.md).\n" if breakage == "link"
                                        else "\n::: genlab.load.no_such_function\n"))
    result = build(root, tmp_path / "site")
    assert result.returncode != 0
    assert ("missing.md" if breakage == "link" else "no_such_function") in result.stderr
