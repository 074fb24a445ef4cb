#!/bin/sh
# sh setup.sh [dev]
# Creates .venv (only when missing) and installs genlab into it, editable, with the exact versions of
# constraints.txt. `dev` adds the test and sweep tools. Re-running is instant unless pyproject.toml or
# constraints.txt changed.
set -e
cd "$(dirname "$0")"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
want="$(cat pyproject.toml constraints.txt | cksum)"
if [ "$1" = dev ]; then target=".[dev]"; stamps=".venv/.genlab-dev"; else target="."; stamps=".venv/.genlab .venv/.genlab-dev"; fi
for stamp in $stamps; do
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
done
echo "setup: installing genlab$([ "$1" = dev ] && echo ' with dev tools') into .venv (a few minutes the first time)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e "$target"
echo "$want" > "${stamps%% *}"
echo "setup: done"
