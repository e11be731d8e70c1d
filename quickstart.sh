#!/usr/bin/env bash
# The quick start's first command: set everything up, then run the main job on the demo calls.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/workbench demo "$@"
