#!/usr/bin/env bash
# The main job: set up if needed, then match the bundled example pair and write a picture.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec ./.venv/bin/lightglue match --out "${1:-outputs/demo}"
