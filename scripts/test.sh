#!/usr/bin/env bash
# Installs everything (scripts/install.sh), then runs the linters and the whole test suite.
# Extra arguments go to pytest (e.g. `scripts/test.sh tests/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
VENV="$(cd "${STRUCTSERVE_VENV:-.venv}" && pwd)"
export PATH="$VENV/bin:$PATH"
# The default model (pulled once, verified, idempotent): tests use its tokenizer and weights.
echo "== model";       structserve models pull smollm2-135m-instruct
echo "== ruff check";  ruff check .
echo "== ruff format"; ruff format --check .
echo "== mypy";        mypy
echo "== pytest"
set +e
if [[ $# -eq 0 ]]; then set -- tests/unit tests/integration; fi
python -m pytest -ra --durations=20 --timeout=900 "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest: no tests collected"; exit 1; fi
exit $rc
