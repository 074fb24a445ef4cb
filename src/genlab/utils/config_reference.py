"""The configuration reference page (docs/config_reference.md), generated from the config tree itself.

    python -m genlab.utils.config_reference [OUT]     # default docs/config_reference.md

tests/test_docs.py fails when the committed page differs from what this writes, so the reference cannot
drift from conf/.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

HEADER = """# Configuration reference

Generated from the config tree by `python -m genlab.utils.config_reference`; do not edit by hand.
Each group is a folder of `conf/` (shipped as `genlab.conf`); choose an option with `GROUP=NAME`
(`model=vae`, `model/unet=small`) and change any value with its dotted key (`model.latent_dim=64`).
How overrides, presets and your own config folders work: [Configuration](configuration.md).
"""


def summary(text: str) -> str:
    """The leading comment of a YAML file as one paragraph of plain text (Markdown's characters escaped:
    `[data=digits]` in a comment is not a link)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        line = line.lstrip("#").strip()
        if not line.startswith("@package"):
            lines.append(line)
    return "".join("\\" + c if c in "[]*_<`\\" else c for c in " ".join(lines))


def reference(root=None) -> str:
    root = Path(str(root or files("genlab.conf")))
    out = [HEADER]
    top = sorted(root.glob("*.yaml"))
    out.append("## Entry points\n")
    for path in top:
        out.append(f"### `{path.stem}.yaml`\n\nThe config of `python -m genlab.{path.stem}`.\n")
        out.append(f"```yaml\n{path.read_text().rstrip()}\n```\n")
    groups = sorted({p.parent for p in root.rglob("*.yaml")} - {root})
    for group in groups:
        name = group.relative_to(root).as_posix()
        options = sorted(group.glob("*.yaml"))
        out.append(f"## `{name}`\n\nOptions: {', '.join(f'`{p.stem}`' for p in options)}.\n")
        for path in options:
            text = path.read_text()
            out.append(f"### `{name}={path.stem}`\n\n{summary(text)}\n\n```yaml\n{text.rstrip()}\n```\n")
    return "\n".join(out)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/config_reference.md")
    out.write_text(reference())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
