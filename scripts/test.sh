#!/usr/bin/env bash
# The test suite: set up if needed, then run pytest (extra arguments are passed to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec ./.venv/bin/python -m pytest -q -m "not slow" "$@"
