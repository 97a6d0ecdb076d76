"""The native CPU kernels as torch custom operators (`torch.ops.structserve_native.*`).

vLLM's `torch.compile` (engines started without `--enforce-eager`) traces every linear layer's
`apply`; Dynamo cannot trace a pybind call, so each kernel of the extension (kernels/native.py) is
registered once per process as an operator with a schema and a fake (shape-only) implementation.
Compiled graphs then call the operator as an opaque node; eager calls skip it and call the
extension directly (kernels/native_ops.py). Registration is lazy (`ops()`, when a weight is
packed), never at import.

Every operator maps x [N, I] (bf16 or fp32, contiguous) to y [N, cols] of x's dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from kernels.native import load

NAMESPACE = "structserve_native"

# name -> (schema arguments, output columns from the arguments); the call is load().<name>(...)
_SCHEMAS: dict[str, tuple[str, Callable[..., int]]] = {
    "dense": (
        "Tensor x, Tensor packed, int out_features, Tensor? bias, int isa",
        lambda x, packed, out_features, *rest: out_features,
    ),
    "sparse24": (
        "Tensor x, Tensor values, Tensor meta, Tensor? bias, int isa",
        lambda x, values, *rest: values.shape[0],
    ),
    "blockdiag": (
        "Tensor x, Tensor packed, int block, int isa",
        lambda x, *rest: x.shape[1],
    ),
    "lowrank": (
        "Tensor x, Tensor vp, int rank, Tensor up, int out_features, Tensor? bias, int isa",
        lambda x, vp, rank, up, out_features, *rest: out_features,
    ),
    "armor": (
        "Tensor x, Tensor bp, int b_block, Tensor values, Tensor meta, Tensor ap, int a_block, "
        "Tensor? bias, int isa",
        lambda x, bp, b_block, values, *rest: values.shape[0],
    ),
    "dictsparse": (
        "Tensor x, Tensor c_values, Tensor c_index, int atoms, Tensor dp, int out_features, "
        "Tensor? bias, int isa",
        lambda x, cv, ci, atoms, dp, out_features, *rest: out_features,
    ),
}


def _eager(name: str) -> Callable[..., torch.Tensor]:
    def run(*args: Any) -> torch.Tensor:
        out: torch.Tensor = getattr(load(), name)(*args)
        return out

    return run


def _fake(cols: Callable[..., int]) -> Callable[..., torch.Tensor]:
    def shape_only(x: torch.Tensor, *args: Any) -> torch.Tensor:
        return x.new_empty(x.shape[0], cols(x, *args))  # [N, cols], x's dtype

    return shape_only


@functools.cache
def _library() -> torch.library.Library:
    lib = torch.library.Library(NAMESPACE, "DEF")  # kept alive by the cache
    for name, (arguments, cols) in _SCHEMAS.items():
        lib.define(f"{name}({arguments}) -> Tensor")
        lib.impl(name, _eager(name), "CPU")
        torch.library.register_fake(f"{NAMESPACE}::{name}", _fake(cols), lib=lib)
    return lib


def ops() -> Any:
    """`torch.ops.structserve_native`, registered on first use (builds/loads the extension)."""
    load()
    _library()
    return getattr(torch.ops, NAMESPACE)
