"""vLLM's own CPU GEMM for a fixed weight (oneDNN / its prepacked kernels), when inside vLLM."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

Gemm = Callable[[torch.Tensor], torch.Tensor]


class _Holder(torch.nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = None


def _dispatched(weight: torch.Tensor) -> _Holder | None:
    """A holder of `weight` [O, I] after vLLM's CPU GEMM dispatch (its `cpu_linear` set), or
    None outside vLLM's CPU platform."""
    try:
        from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm
        from vllm.platforms import current_platform
    except ImportError:
        return None
    if not current_platform.is_cpu():
        return None
    holder = _Holder(weight.contiguous())
    dispatch_cpu_unquantized_gemm(holder, remove_weight=True)
    return holder


def vllm_cpu_gemm(weight: torch.Tensor) -> Gemm | None:
    """x -> x·weightᵀ through vLLM's CPU dispatch (weight [O, I] prepacked), or None outside
    vLLM's CPU platform. The caller may release `weight` afterwards."""
    holder = _dispatched(weight)
    if holder is None:
        return None
    linear: Callable[..., torch.Tensor] = holder.__dict__["cpu_linear"]  # set by vLLM
    return lambda x: linear(x, holder.weight, None)


@functools.lru_cache(maxsize=64)
def falls_back_to_torch(out_features: int, in_features: int, dtype: torch.dtype) -> bool:
    """vLLM's CPU GEMM for an [out_features, in_features] weight of `dtype` is plain
    `F.linear` here: none of its kernels (zentorch, sgl packed, oneDNN) applies, e.g. bf16 on a
    CPU without AVX512 where oneDNN cannot create the matmul. True outside vLLM's CPU platform
    too (then the dispatcher's "vllm" path does not exist). Probed once per shape on an
    uninitialised weight: vLLM keeps the weight only when it falls back."""
    holder = _dispatched(torch.empty(out_features, in_features, dtype=dtype))
    return holder is None or holder.weight.numel() > 0
