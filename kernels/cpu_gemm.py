"""The fastest dense GEMM for a fixed weight on this machine (vLLM's CPU dispatch when present)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from kernels import native, native_ops

Gemm = Callable[[torch.Tensor], torch.Tensor]


class _Holder(torch.nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = None


def _vllm_cpu_gemm(weight: torch.Tensor) -> Gemm | None:
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


def dense_gemm(weight: torch.Tensor, *, prepack: bool = True) -> Gemm:
    """A callable x -> x·weightᵀ for a weight that never changes.

    Args:
        weight: [O, I].
        prepack: on CPU inside vLLM, let vLLM prepack the weight for oneDNN / its GEMM kernels
            (the weight tensor may then be released by the caller).

    Returns:
        gemm(x: [N, I]) -> [N, O].
    """
    if weight.device.type == "cpu" and native.use_native(weight):
        return native_ops.PackedDense(weight)  # structserve's packed GEMV (kernels/native.py)
    if prepack and weight.device.type == "cpu":
        gemm = _vllm_cpu_gemm(weight)
        if gemm is not None:
            return gemm
    return lambda x: F.linear(x, weight)
