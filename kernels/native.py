"""Native CPU linear kernels (kernels/csrc): AVX512-BF16 / AVX-512 / AVX2 paths chosen at run time.

The C++ extension is compiled on first use with `torch.utils.cpp_extension.load` into
`$STRUCTSERVE_CACHE_DIR/kernels/<hash>` (default `~/.cache/structserve/kernels/<hash>`, the hash
covering the sources, flags and torch version), so a normal install needs no build step; later
processes only load the cached library (kernels/native_build.py: stamped builds, a flock that
dies with its holder). Threads come from torch's OpenMP pool (the count set by
`torch.set_num_threads`, which vLLM sets per worker).

Setting: `STRUCTSERVE_NATIVE_KERNELS` = `auto` (default: use them when they build), `on` (require
them: a build failure raises) or `off` (torch paths, for comparison). `STRUCTSERVE_NATIVE_ISA`
(1 AVX2, 2 AVX-512, 3 AVX512-BF16) caps the instruction set, for tests and benchmarks.

Weights are used as bf16; activations may be bf16 or fp32 (fp32 inputs are split into two bf16
parts so products stay exact: near-fp32 accuracy), other float dtypes go through fp32.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import torch

from kernels.native_build import build_or_load

MODE_ENV = "STRUCTSERVE_NATIVE_KERNELS"
ISA_ENV = "STRUCTSERVE_NATIVE_ISA"
MODES = ("auto", "on", "off")
ISA_NAMES = {0: "none", 1: "avx2", 2: "avx512", 3: "avx512bf16"}
_CSRC = Path(__file__).parent / "csrc"
_SOURCES = ("ops.cpp", "isa_avx512bf16.cpp", "isa_avx512.cpp", "isa_avx2.cpp", "trie.cpp")
_HEADERS = ("common.h", "avx512_impl.h")
_CFLAGS = ("-O3", "-std=c++17", "-fopenmp", "-fno-math-errno")
_LDFLAGS = ("-fopenmp",)


class NativeUnavailableError(RuntimeError):
    """The native kernels cannot be used here: no compiler, build failure, or CPU without AVX2."""


class NativeModeError(ValueError):
    """$STRUCTSERVE_NATIVE_KERNELS is not one of MODES."""


def native_mode() -> str:
    """The configured mode: $STRUCTSERVE_NATIVE_KERNELS (auto | on | off; 1/0 accepted)."""
    raw = os.environ.get(MODE_ENV, "auto").strip().lower()
    mode = {"1": "on", "true": "on", "0": "off", "false": "off", "": "auto"}.get(raw, raw)
    if mode not in MODES:
        raise NativeModeError(f"{MODE_ENV}={raw!r}: expected one of {MODES}")
    return mode


def cache_dir() -> Path:
    """Where compiled kernels are kept (one folder per source hash)."""
    root = os.environ.get("STRUCTSERVE_CACHE_DIR") or Path.home() / ".cache" / "structserve"
    return Path(root) / "kernels"


def source_hash() -> str:
    """Hash of the sources, compiler flags, torch and Python versions (the build key)."""
    h = hashlib.sha256()
    for name in _SOURCES + _HEADERS:
        h.update(name.encode())
        h.update((_CSRC / name).read_bytes())
    h.update(repr((_CFLAGS, _LDFLAGS, torch.__version__, sys.version_info[:2])).encode())
    return h.hexdigest()[:16]


def _build() -> ModuleType:
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise NativeUnavailableError(
            f"no C++ compiler ({compiler!r} not on PATH): install g++ (or set CXX) to build "
            f"structserve's native kernels, or set {MODE_ENV}=off"
        )
    from torch.utils import cpp_extension

    try:
        cpp_extension.verify_ninja_availability()
    except RuntimeError as exc:
        raise NativeUnavailableError(
            f"ninja is required to build the native kernels: {exc}"
        ) from exc
    key = source_hash()
    build = cache_dir() / key
    try:
        return build_or_load(
            f"structserve_cpu_{key}",
            [_CSRC / s for s in _SOURCES],
            _CFLAGS,
            _LDFLAGS,
            build,
        )
    except (RuntimeError, OSError, ImportError) as exc:
        raise NativeUnavailableError(
            f"building the native kernels in {build} failed: {exc}"
        ) from exc


@functools.cache
def _load_once() -> ModuleType | NativeUnavailableError:
    try:
        ext = _build()
    except NativeUnavailableError as exc:
        return exc
    if ext.cpu_isa() < 1:
        return NativeUnavailableError("this CPU has neither AVX2+FMA nor AVX-512")
    return ext


def load() -> ModuleType:
    """The compiled extension (built on first use, then cached per process and on disk).

    Raises:
        NativeUnavailableError: no compiler or ninja, the build failed, or the CPU lacks AVX2.
    """
    ext = _load_once()
    if isinstance(ext, NativeUnavailableError):
        raise ext
    return ext


def available() -> bool:
    """True when the extension builds/loads on this machine."""
    return not isinstance(_load_once(), NativeUnavailableError)


def enabled() -> bool:
    """Whether the linear methods should use the native kernels (mode and availability).

    Raises:
        NativeUnavailableError: mode `on` but the kernels cannot be built.
    """
    mode = native_mode()
    if mode == "off":
        return False
    if mode == "on":
        load()
        return True
    return available()


def cpu_isa() -> int:
    """Best instruction-set level of this CPU (see ISA_NAMES); 0 when unavailable."""
    return int(load().cpu_isa()) if available() else 0


def default_isa() -> int:
    """$STRUCTSERVE_NATIVE_ISA when set, else -1 (the best the CPU has)."""
    raw = os.environ.get(ISA_ENV, "").strip()
    return int(raw) if raw else -1


def usable_weight(weight: torch.Tensor) -> bool:
    """The native kernels apply to this stored weight: a bf16 CPU tensor."""
    return weight.device.type == "cpu" and weight.dtype == torch.bfloat16


def use_native(weight: torch.Tensor) -> bool:
    """Run this weight on the native kernels: usable weight and `enabled()`."""
    return usable_weight(weight) and enabled()
