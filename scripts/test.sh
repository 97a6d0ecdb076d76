#!/usr/bin/env bash
# Installs everything (scripts/install.sh), then runs the linters and the whole test suite.
# Extra arguments go to pytest (e.g. `scripts/test.sh tests/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
VENV="$(cd "${STRUCTSERVE_VENV:-.venv}" && pwd)"
export PATH="$VENV/bin:$PATH"
# The default model (pulled once, verified, idempotent): tests use its tokenizer and weights.
# Every step is bounded (coreutils `timeout`): a stalled download or a hung test fails the run with
# its output instead of running into the CI limit.
echo "== model";       timeout 1200 structserve models pull smollm2-135m-instruct
# The official Node client, for tests/unit/server/test_client_compat.py (versions pinned there too).
NODE_DIR="${STRUCTSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/structserve}/node"
node_ready() {  # the pinned version, and both packages load (an install cut short does not)
  grep -qs '"version": "6.30.1"' "$NODE_DIR/node_modules/openai/package.json" &&
    NODE_PATH="$NODE_DIR/node_modules" node -e 'require("openai"); require("zod")' 2>/dev/null
}
if command -v npm >/dev/null 2>&1 && ! node_ready; then
  echo "== node client"; timeout 600 npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent openai@6.30.1 zod@4.6.7
fi
# The bfcl-eval wheel (data + BFCL's AST checker), read in place, never installed: the BFCL tests
# (tests/unit/bench/test_bfcl_*.py) run its checker; version pinned in bench/bfcl_data.py.
BFCL_DIR="${STRUCTSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/structserve}/bfcl"
BFCL_VERSION="$(sed -n 's/^BFCL_VERSION = "\(.*\)"/\1/p' bench/bfcl_data.py)"
if [[ ! -f "$BFCL_DIR/bfcl_eval-$BFCL_VERSION-py3-none-any.whl" ]]; then
  echo "== bfcl-eval wheel"; timeout 600 python -m pip download -q --no-deps "bfcl-eval==$BFCL_VERSION" -d "$BFCL_DIR"
fi
echo "== ruff check";  ruff check .
echo "== ruff format"; ruff format --check .
echo "== mypy";        mypy
echo "== pytest"
set +e
if [[ $# -eq 0 ]]; then set -- tests/unit tests/integration; fi
# --timeout: per test (the slowest, an engine start plus a test, takes under a minute here);
# the outer timeout bounds the whole session (about 9 minutes here).
timeout -k 60 3600 python -m pytest -ra --durations=20 --timeout=300 "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest: no tests collected"; exit 1; fi
exit $rc
