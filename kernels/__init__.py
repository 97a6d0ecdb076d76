"""Linear kernels for compressed formats: pure-torch references and fast paths, one dispatcher.

`backend="auto"` picks Triton on CUDA (when importable), otherwise the fastest torch path;
"reference" forces kernels.reference, "torch" the torch path, "triton" the Triton kernel (on CPU
only under TRITON_INTERPRET=1, for tests), "native" the C++ CPU kernels (kernels/native.py; these
functions pack per call: the vLLM linear methods pack once with kernels.native_ops instead).
"""

from __future__ import annotations

import importlib.util
import os

import torch

from kernels import reference, torch_fast

BACKENDS = ("auto", "reference", "torch", "triton", "native")


class UnknownBackendError(ValueError):
    """`backend` is not one of BACKENDS."""


def triton_usable(x: torch.Tensor) -> bool:
    """Triton can run on x's device: CUDA with triton installed, or the CPU interpreter."""
    if importlib.util.find_spec("triton") is None:
        return False
    return x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


def _resolve(backend: str, x: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise UnknownBackendError(f"backend {backend!r} not in {BACKENDS}")
    if backend == "auto":
        return "triton" if x.is_cuda and triton_usable(x) else "torch"
    return backend


def blockdiag_apply(
    x: torch.Tensor, blocks: torch.Tensor, *, backend: str = "auto"
) -> torch.Tensor:
    """y = blockdiag(blocks)·x over the last dim.

    Args:
        x: [..., n·bs].
        blocks: [n, bs, bs].
        backend: one of BACKENDS.

    Returns:
        [..., n·bs].
    """
    chosen = _resolve(backend, x)
    if chosen == "reference":
        return reference.blockdiag_apply(x, blocks)
    if chosen == "native":
        from kernels.native_ops import PackedBlockDiag

        return PackedBlockDiag(blocks)(x)
    if chosen == "triton":
        from kernels.triton_blockdiag import blockdiag_apply_triton

        return blockdiag_apply_triton(x, blocks)
    return torch_fast.blockdiag_apply(x, blocks)


def lowrank_linear(
    x: torch.Tensor, u: torch.Tensor, v: torch.Tensor, *, backend: str = "auto"
) -> torch.Tensor:
    """y = (x·Vᵀ)·Uᵀ.

    Args:
        x: [..., I].
        u: [O, r].
        v: [r, I].
        backend: one of BACKENDS.

    Returns:
        [..., O].
    """
    chosen = _resolve(backend, x)
    if chosen == "reference":
        return reference.lowrank_linear(x, u, v)
    if chosen == "native":
        from kernels.native_ops import PackedLowRank

        return PackedLowRank(u, v)(x)
    if chosen == "triton":
        from kernels.triton_lowrank import lowrank_linear_triton

        return lowrank_linear_triton(x, u, v)
    return torch_fast.lowrank_linear(x, u, v)


def unpack24(values: torch.Tensor, meta: torch.Tensor, *, backend: str = "auto") -> torch.Tensor:
    """Dense [R, C] from packed 2:4 values [R, C/2] and meta [R, C/8] (meta must be valid)."""
    chosen = _resolve(backend, values)
    if chosen == "reference":
        return reference.unpack24(values, meta)
    return torch_fast.unpack24_fast(values, meta, torch_fast.nibble_table_on(values.device))


def _no_triton(backend: str, x: torch.Tensor) -> str:
    chosen = _resolve(backend, x)
    return "torch" if chosen == "triton" else chosen


def dense_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """y = x·Wᵀ + b. x: [..., I], weight: [O, I] -> [..., O]."""
    chosen = _no_triton(backend, x)
    if chosen == "native":
        from kernels.native_ops import PackedDense

        return PackedDense(weight)(x, bias)
    return reference.dense_linear(x, weight, bias)


def sparse24_linear(
    x: torch.Tensor,
    values: torch.Tensor,
    meta: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """y = x·unpack24(values, meta)ᵀ + b. x: [..., I], values: [O, I/2], meta: [O, I/8]."""
    chosen = _no_triton(backend, x)
    if chosen == "native":
        from kernels.native_ops import Sparse24

        return Sparse24(values, meta)(x, bias)
    if chosen == "reference":
        return reference.sparse24_linear(x, values, meta, bias)
    return reference.dense_linear(x, unpack24(values, meta, backend="torch"), bias)


def armor_linear(
    x: torch.Tensor,
    a: torch.Tensor,
    values: torch.Tensor,
    meta: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """y = A(S(Bx)) + b. x: [..., I], a: [O/bs, bs, bs], b: [I/bs, bs, bs] -> [..., O]."""
    chosen = _no_triton(backend, x)
    if chosen == "native":
        from kernels.native_ops import PackedArmor

        return PackedArmor(a, values, meta, b)(x, bias)
    return reference.armor_linear(x, a, values, meta, b, bias)


def dictsparse_linear(
    x: torch.Tensor,
    d: torch.Tensor,
    c_values: torch.Tensor,
    c_index: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """y = D(Cx) + b. x: [..., I], d: [O, k], c_values/c_index: [s, I] -> [..., O]."""
    chosen = _no_triton(backend, x)
    if chosen == "native":
        from kernels.native_ops import PackedDictSparse

        return PackedDictSparse(d, c_values, c_index)(x, bias)
    return reference.dictsparse_linear(x, d, c_values, c_index, bias)
