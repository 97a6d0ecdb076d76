"""vLLM's own CPU GEMM for a fixed weight (oneDNN / its prepacked kernels), when inside vLLM."""

from __future__ import annotations

from collections.abc import Callable

import torch

Gemm = Callable[[torch.Tensor], torch.Tensor]


class _Holder(torch.nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = None


def vllm_cpu_gemm(weight: torch.Tensor) -> Gemm | None:
    """x -> x·weightᵀ through vLLM's CPU dispatch (weight [O, I] prepacked), or None outside
    vLLM's CPU platform. The caller may release `weight` afterwards."""
    try:
        from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm
        from vllm.platforms import current_platform
    except ImportError:
        return None
    if not current_platform.is_cpu():
        return None
    holder = _Holder(weight.contiguous())
    dispatch_cpu_unquantized_gemm(holder, remove_weight=True)
    linear: Callable[..., torch.Tensor] = holder.__dict__["cpu_linear"]  # set by vLLM
    return lambda x: linear(x, holder.weight, None)
