"""The one kernel dispatcher: a callable per (operation, tensors, backend), asked for once at load.

Serving (model_loaders/formats/*.plan) asks `kernel(op, tensors)` once per layer when weights are
loaded and keeps the callable. `backend="auto"` takes the first path that applies on this
platform, in the order measured fastest (docs/kernels.md):

* dense: vLLM's CPU GEMM (oneDNN / its prepacked kernels, inside vLLM), then `F.linear`; the
  native packed GEMV/GEMM first where vLLM's GEMM for that shape is only `F.linear` (no oneDNN
  bf16 matmul, e.g. AVX2-only CPUs: native measured 1.5-4.9x faster there) or when
  STRUCTSERVE_NATIVE_KERNELS=on (elsewhere measured slower than oneDNN);
* sparse24: CUDA semi-structured 2:4 (cuSPARSELt / CUTLASS), native (reads values/meta as
  stored), then torch (unpacked on the fly per call);
* armor: native (A(S(Bx)) in one call), then composed (each wrapper and the 2:4 core from this
  dispatcher's own auto choice);
* blockdiag: Triton on CUDA, then torch (one bmm);
* lowrank, dictsparse: native, then torch;
* trie_mask, trie_next, trie_advance (a choice-set trie's decoding step, choice_sets/trie.py):
  native, then torch.

Every op also has a "reference" backend (kernels/reference.py, pure torch) that tests compare the
fast paths against. Tensors are passed by their stored names (docs/formats.md): dense `weight`;
sparse24 `values`, `meta`; blockdiag `blocks`; armor `A`, `B`, `values`, `meta`; lowrank `U`,
`V`; dictsparse `D`, `C_values`, `C_index`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from kernels import native, reference, torch_fast

Forward = Callable[[torch.Tensor], torch.Tensor]
Tensors = Mapping[str, torch.Tensor]
Builder = Callable[[Tensors], Forward | None]  # None: this path does not apply here
BACKENDS = ("auto", "reference", "torch", "composed", "native", "vllm", "cuda", "triton")


class UnknownKernelError(ValueError):
    """The operation or backend is not one this dispatcher knows."""


class KernelUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run these tensors on this machine."""


def _native_then(t: torch.Tensor, *rest: str) -> list[str]:
    """The native backend first when it runs weight `t` here, then `rest` in order."""
    return (["native"] if native.use_native(t) else []) + list(rest)


def _native(cls: str, *names: str) -> Builder:
    """Builder of the kernels.native_ops class `cls` over the tensors `names` (packs once)."""

    def build(t: Tensors) -> Forward:
        from kernels import native_ops

        forward: Forward = getattr(native_ops, cls)(*(t[n] for n in names))
        return forward

    return build


def triton_usable(t: torch.Tensor) -> bool:
    """Triton can run on t's device: CUDA with triton installed, or the CPU interpreter."""
    if importlib.util.find_spec("triton") is None:
        return False
    return t.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


# --- dense: weight [O, I] -------------------------------------------------------------------


def _dense_vllm(t: Tensors) -> Forward | None:
    from kernels.cpu_gemm import vllm_cpu_gemm

    return vllm_cpu_gemm(t["weight"]) if t["weight"].device.type == "cpu" else None


def _dense_auto(t: Tensors) -> list[str]:
    w = t["weight"]
    if w.device.type != "cpu":
        return ["torch"]
    mode = native.native_mode()
    if mode == "on" or (mode == "auto" and _vllm_gemm_is_f_linear(w)):
        return _native_then(w, "vllm", "torch")
    # measured on every AVX512 machine recorded (docs/benchmarks.md, "Formats"): the native
    # dense GEMV/GEMM never beat vLLM's oneDNN / sgl GEMM (0.77-1.00x at c=1, 0.50-0.93x at
    # c=16), so "auto" leaves those plain dense layers to vLLM
    return ["vllm", "torch"]


def _vllm_gemm_is_f_linear(w: torch.Tensor) -> bool:
    """vLLM would run this weight with `F.linear` (docs/benchmarks.md, "An AVX2-only host": the
    native kernel is 1.5x at batch 1 and 3.8-4.9x at batch 16-512 there)."""
    from kernels.cpu_gemm import falls_back_to_torch

    return falls_back_to_torch(int(w.shape[0]), int(w.shape[1]), w.dtype)


# --- sparse24: values [O, I/2], meta [O, I/8] uint8 -------------------------------------------


def _sparse24_torch(t: Tensors) -> Forward:
    values, meta = t["values"], t["meta"]
    table = torch_fast.nibble_table_on(values.device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        # decoded on the fly: [O, I] temporary, freed after the GEMM
        return F.linear(x, torch_fast.unpack24_fast(values, meta, table))

    return forward


def _sparse24_cuda(t: Tensors) -> Forward | None:
    from kernels.cuda_sparse24 import semi_structured_gemm

    values, meta = t["values"], t["meta"]
    if not values.is_cuda:
        return None
    table = torch_fast.nibble_table_on(values.device)
    # cuSPARSELt / CUTLASS keep their own 2:4 encoding of the dense [O, I] weight
    return semi_structured_gemm(torch_fast.unpack24_fast(values, meta, table))


def _sparse24_auto(t: Tensors) -> list[str]:
    return (["cuda"] if t["values"].is_cuda else []) + _native_then(t["values"], "torch")


# --- blockdiag: blocks [n, bs, bs]; x [..., n·bs] -> [..., n·bs] ----------------------------


def _blockdiag_triton(t: Tensors) -> Forward | None:
    blocks = t["blocks"]
    if not triton_usable(blocks):
        return None
    from kernels.triton_blockdiag import blockdiag_apply_triton

    return lambda x: blockdiag_apply_triton(x, blocks)


# --- armor: A [O/bs, bs, bs], values/meta (2:4 core [O, I]), B [I/bs, bs, bs] -----------------


def _armor_parts(t: Tensors, backend: str) -> Forward:
    wrap_b = kernel("blockdiag", {"blocks": t["B"]}, backend=backend)
    core = kernel("sparse24", {"values": t["values"], "meta": t["meta"]}, backend=backend)
    wrap_a = kernel("blockdiag", {"blocks": t["A"]}, backend=backend)
    return lambda x: wrap_a(core(wrap_b(x)))  # x: [..., I] -> [..., I] -> [..., O] -> [..., O]


# --- lowrank: U [O, r], V [r, I]; dictsparse: D [O, k], C_values/C_index [s, I] ---------------


def _dictsparse_torch(t: Tensors) -> Forward:
    d = t["D"]
    c = reference.dictsparse_coefficients(t["C_values"], t["C_index"], int(d.shape[1]))  # [k, I]
    return lambda x: F.linear(F.linear(x, c), d)


def _dictsparse_reference(t: Tensors) -> Forward:
    d, cv, ci = t["D"], t["C_values"], t["C_index"]
    return lambda x: reference.dictsparse_linear(x, d, cv, ci)


# --- trie_mask: nodes [B] -> mask [B, V]; trie_next: nodes [B] -> tokens [B, K];
# trie_advance: moves [2, B] (nodes; tokens) -> [B] ---
# tensors: row_start [N+1], edge_key [E], edge_child [E], root_mask [V], end (0-d): a choice-set
# trie (choice_sets/trie.py)


def _trie_step(op: str, impl: Any, t: Tensors) -> Forward:
    """`op` of `impl` (kernels.reference or the native extension: the same signatures) bound
    to one trie's tensors."""
    step, rs, ek = getattr(impl, op), t["row_start"], t["edge_key"]
    if op == "trie_mask":
        root, end = t["root_mask"], int(t["end"])
        return lambda nodes: step(nodes.long(), rs, ek, root, end)
    if op == "trie_next":
        end, vocab = int(t["end"]), int(t["root_mask"].numel())
        return lambda nodes: step(nodes.long(), rs, ek, end, vocab)
    child, vocab = t["edge_child"], int(t["root_mask"].numel())
    return lambda moves: step(moves[0].long(), moves[1].long(), rs, ek, child, vocab)


def _trie_native(op: str) -> Builder:
    def build(t: Tensors) -> Forward | None:
        if t["edge_key"].device.type != "cpu" or not native.enabled():
            return None
        return _trie_step(op, native.load(), t)

    return build


_BUILDERS: dict[str, dict[str, Builder]] = {
    "dense": {
        "reference": lambda t: lambda x: reference.dense_linear(x, t["weight"]),
        "torch": lambda t: lambda x: F.linear(x, t["weight"]),
        "native": _native("PackedDense", "weight"),
        "vllm": _dense_vllm,
    },
    "sparse24": {
        "reference": lambda t: lambda x: reference.sparse24_linear(x, t["values"], t["meta"]),
        "torch": _sparse24_torch,
        "native": _native("Sparse24", "values", "meta"),
        "cuda": _sparse24_cuda,
    },
    "blockdiag": {
        "reference": lambda t: lambda x: reference.blockdiag_apply(x, t["blocks"]),
        "torch": lambda t: lambda x: torch_fast.blockdiag_apply(x, t["blocks"]),
        "native": _native("PackedBlockDiag", "blocks"),
        "triton": _blockdiag_triton,
    },
    "armor": {
        "reference": lambda t: (
            lambda x: reference.armor_linear(x, t["A"], t["values"], t["meta"], t["B"])
        ),
        "torch": lambda t: _armor_parts(t, "torch"),
        "composed": lambda t: _armor_parts(t, "auto"),
        "native": _native("PackedArmor", "A", "values", "meta", "B"),
    },
    "lowrank": {
        "reference": lambda t: lambda x: reference.lowrank_linear(x, t["U"], t["V"]),
        "torch": lambda t: lambda x: torch_fast.lowrank_linear(x, t["U"], t["V"]),
        "native": _native("PackedLowRank", "U", "V"),
    },
    "dictsparse": {
        "reference": _dictsparse_reference,
        "torch": _dictsparse_torch,
        "native": _native("PackedDictSparse", "D", "C_values", "C_index"),
    },
    "trie_mask": {
        "reference": lambda t: _trie_step("trie_mask", reference, t),
        "torch": lambda t: _trie_step("trie_mask", reference, t),
        "native": _trie_native("trie_mask"),
    },
    "trie_next": {
        "reference": lambda t: _trie_step("trie_next", reference, t),
        "torch": lambda t: _trie_step("trie_next", reference, t),
        "native": _trie_native("trie_next"),
    },
    "trie_advance": {
        "reference": lambda t: _trie_step("trie_advance", reference, t),
        "torch": lambda t: _trie_step("trie_advance", reference, t),
        "native": _trie_native("trie_advance"),
    },
}
OPS = tuple(_BUILDERS)

# op -> the backends "auto" tries, in order, for these tensors on this platform
_AUTO: dict[str, Callable[[Tensors], list[str]]] = {
    "dense": _dense_auto,
    "sparse24": _sparse24_auto,
    "blockdiag": lambda t: (["triton"] if t["blocks"].is_cuda else []) + ["torch"],
    "armor": lambda t: _native_then(t["values"], "composed"),
    "lowrank": lambda t: _native_then(t["U"], "torch"),
    "dictsparse": lambda t: _native_then(t["D"], "torch"),
    # measured (docs/benchmarks.md, "Choice sets"): the torch step is ~18 op dispatches
    "trie_mask": lambda t: ["native", "torch"],
    "trie_next": lambda t: ["native", "torch"],
    "trie_advance": lambda t: ["native", "torch"],
}


def choices(op: str, tensors: Tensors) -> list[str]:
    """The backends `auto` tries for `op` on these tensors, fastest first."""
    if op not in _BUILDERS:
        raise UnknownKernelError(f"operation {op!r} not in {OPS}")
    return _AUTO[op](tensors)


def kernel(op: str, tensors: Tensors, *, backend: str = "auto") -> Forward:
    """A callable x -> y for one linear operation on fixed weights, chosen once.

    Args:
        op: one of OPS.
        tensors: the operation's weights by stored name (module docstring); they must stay
            alive and unchanged while the callable is used (some paths keep views).
        backend: "auto" (the fastest path that applies here) or one named backend.

    Returns:
        forward(x: [..., I]) -> [..., O].

    Raises:
        UnknownKernelError: unknown op, or a backend this op does not have.
        KernelUnavailableError: the named backend does not apply to these tensors here.
    """
    builders = _BUILDERS.get(op)
    if builders is None:
        raise UnknownKernelError(f"operation {op!r} not in {OPS}")
    names = choices(op, tensors) if backend == "auto" else [backend]
    for name in names:
        if name not in builders:
            raise UnknownKernelError(f"op {op!r} has no backend {name!r}: {sorted(builders)}")
        forward = builders[name](tensors)
        if forward is not None:
            return forward
    raise KernelUnavailableError(f"backend {backend!r} cannot run {op!r} on these tensors")
