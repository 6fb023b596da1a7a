#!/usr/bin/env bash
# The main job on a fresh machine: install, then run the demo story.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/license-ledger demo "$@"
