"""Pre-packed weights and forward calls of the native CPU kernels (kernels/native.py builds them).

Each class packs once (at load, in `process_weights_after_loading`) and is then called per
forward with activations `x: [..., I]` (bf16 or fp32; other floats go through fp32) and an
optional bias. The 2:4 kernels read the stored `values` / `meta` layout of docs/formats.md as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from kernels.native import default_isa, load
from kernels.native_library import ops

_KERNEL_DTYPES = (torch.bfloat16, torch.float32)


def _ext() -> Any:
    """The kernels' entry points per call: the torch operators while torch.compile traces
    (kernels/native_library.py), else the extension module itself (no dispatcher overhead)."""
    if torch.compiler.is_compiling():
        return torch.ops.structserve_native
    return load()


def _packing() -> tuple[Any, int]:
    """For a constructor (at load, eager): the extension, with the torch operators registered
    before any graph is traced, and the default instruction set, read once per packed weight."""
    ops()
    return load(), default_isa()


def _run(
    x: torch.Tensor, out_features: int, call: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Flatten x [..., I] to [N, I], run, restore the leading dims and x's dtype."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    if x2.dtype not in _KERNEL_DTYPES:
        x2 = x2.float()
    y = call(x2.contiguous())  # [N, O]
    return y.reshape(*lead, out_features).to(x.dtype)


def _bf16(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.bfloat16).contiguous()


class PackedDense:
    """y = x·Wᵀ + b with W [O, I] packed for the native GEMV / small-batch GEMM."""

    def __init__(self, weight: torch.Tensor) -> None:
        """Args: weight: [O, I] (used as bf16)."""
        self.out_features, self.in_features = (int(d) for d in weight.shape)
        ext, self._isa = _packing()
        self.packed = ext.pack_dense(_bf16(weight))  # [⌈O/32⌉, ⌈I/2⌉, 32, 2]

    @property
    def nbytes(self) -> int:
        """Resident bytes of the packed weight (padding included)."""
        return self.packed.numel() * self.packed.element_size()

    def __call__(
        self, x: torch.Tensor, bias: torch.Tensor | None = None, *, isa: int | None = None
    ) -> torch.Tensor:
        """x: [..., I] -> [..., O]."""
        level = self._isa if isa is None else isa
        ext = _ext()
        if x.dim() == 2 and x.dtype in _KERNEL_DTYPES and x.is_contiguous():  # vLLM's case
            return ext.dense(x, self.packed, self.out_features, bias, level)
        packed, cols = self.packed, self.out_features
        return _run(x, cols, lambda x2: ext.dense(x2, packed, cols, bias, level))


class _NativeOp:
    """A packed weight whose native call runs on [N, I] rows (`_call`); `__call__` adapts x."""

    out_features: int
    _isa: int  # the default instruction set, read once when packed (not while compiling)

    def __call__(
        self, x: torch.Tensor, bias: torch.Tensor | None = None, *, isa: int | None = None
    ) -> torch.Tensor:
        """x: [..., I] -> [..., O]."""
        level = self._isa if isa is None else isa
        ext = _ext()
        return _run(x, self.out_features, lambda x2: self._call(ext, x2, bias, level))

    def _call(self, ext: Any, x2: Tensor, bias: Tensor | None, level: int) -> Tensor:
        raise NotImplementedError


class Sparse24(_NativeOp):
    """y = x·unpack24(values, meta)ᵀ + b, read compressed (no dense copy is ever made)."""

    def __init__(self, values: torch.Tensor, meta: torch.Tensor) -> None:
        """Args: values: [O, I/2]; meta: [O, I/8] uint8 (validated 2:4 codes)."""
        _, self._isa = _packing()
        self.values, self.meta = _bf16(values), meta.contiguous()
        self.out_features = int(values.shape[0])

    def _call(self, ext: Any, x2: Tensor, bias: Tensor | None, level: int) -> Tensor:
        return ext.sparse24(x2, self.values, self.meta, bias, level)


class PackedLowRank(_NativeOp):
    """y = U(Vx) + b, both factors packed, one native call."""

    def __init__(self, u: torch.Tensor, v: torch.Tensor) -> None:
        """Args: u: [O, r]; v: [r, I]."""
        ext, self._isa = _packing()
        self.out_features, self.rank = (int(d) for d in u.shape)
        self.up, self.vp = ext.pack_dense(_bf16(u)), ext.pack_dense(_bf16(v))

    def _call(self, ext: Any, x2: Tensor, bias: Tensor | None, level: int) -> Tensor:
        return ext.lowrank(x2, self.vp, self.rank, self.up, self.out_features, bias, level)


class PackedBlockDiag(_NativeOp):
    """y = blockdiag(blocks)·x over the last dim, blocks packed."""

    def __init__(self, blocks: torch.Tensor) -> None:
        """Args: blocks: [n, bs, bs]."""
        self.n, self.block = int(blocks.shape[0]), int(blocks.shape[1])
        self.out_features = self.n * self.block
        ext, self._isa = _packing()
        self.packed = ext.pack_blocks(_bf16(blocks))

    def __call__(  # type: ignore[override]
        self, x: torch.Tensor, *, isa: int | None = None
    ) -> torch.Tensor:
        """x: [..., n·bs] -> [..., n·bs] (no bias)."""
        return super().__call__(x, None, isa=isa)

    def _call(self, ext: Any, x2: Tensor, bias: Tensor | None, level: int) -> Tensor:
        return ext.blockdiag(x2, self.packed, self.block, level)


class PackedArmor(_NativeOp):
    """y = A(S(Bx)) + b: packed block-diagonal wrappers around the stored 2:4 core, one call."""

    def __init__(
        self, a: torch.Tensor, values: torch.Tensor, meta: torch.Tensor, b: torch.Tensor
    ) -> None:
        """Args: a: [O/bs, bs, bs]; values: [O, I/2]; meta: [O, I/8]; b: [I/bs, bs, bs]."""
        ext, self._isa = _packing()
        self.ap, self.a_block = ext.pack_blocks(_bf16(a)), int(a.shape[1])
        self.bp, self.b_block = ext.pack_blocks(_bf16(b)), int(b.shape[1])
        self.values, self.meta = _bf16(values), meta.contiguous()
        self.out_features = int(values.shape[0])

    def _call(self, ext: Any, x2: Tensor, bias: Tensor | None, level: int) -> Tensor:
        b_side = (self.bp, self.b_block)
        a_side = (self.ap, self.a_block)
        return ext.armor(x2, *b_side, self.values, self.meta, *a_side, bias, level)


class PackedDictSparse(_NativeOp):
    """y = D(Cx) + b: C read as stored (column-sparse values/index), D packed, one call."""

    def __init__(self, d: torch.Tensor, c_values: torch.Tensor, c_index: torch.Tensor) -> None:
        """Args: d: [O, k]; c_values: [s, I]; c_index: [s, I] int32 (validated)."""
        self.out_features, self.atoms = (int(v) for v in d.shape)
        ext, self._isa = _packing()
        self.dp = ext.pack_dense(_bf16(d))
        self.c_values = c_values.detach().float().contiguous()
        self.c_index = c_index.to(torch.int32).contiguous()

    def _call(self, ext: Any, x2: Tensor, bias: Tensor | None, level: int) -> Tensor:
        c_side = (self.c_values, self.c_index, self.atoms)
        return ext.dictsparse(x2, *c_side, self.dp, self.out_features, bias, level)
