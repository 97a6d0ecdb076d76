#!/usr/bin/env bash
# Installs everything (scripts/install.sh), then starts `structserve serve` (default model:
# SmolLM2-135M-Instruct, pulled on first use) on http://127.0.0.1:8000. Arguments go to serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec "${STRUCTSERVE_VENV:-.venv}/bin/structserve" serve "$@"
