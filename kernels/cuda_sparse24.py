"""CUDA 2:4 GEMM through torch's semi-structured sparse tensors (cuSPARSELt, else CUTLASS).

Untested on this project's CPU machines: `semi_structured_gemm` returns None off CUDA, for
unsupported dtypes or shapes, and the caller keeps its torch path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.cpu_gemm import Gemm


def semi_structured_gemm(weight: torch.Tensor) -> Gemm | None:
    """x -> x·weightᵀ with `weight` [O, I] (2:4 along I) held in compressed 2:4 form, or None.

    Args:
        weight: a CUDA fp16/bf16 matrix that is 2:4 sparse along its rows.

    Returns:
        The GEMM, or None when the semi-structured path is unavailable for this weight.
    """
    if not weight.is_cuda or weight.dtype not in (torch.float16, torch.bfloat16):
        return None
    try:
        from torch.sparse import to_sparse_semi_structured

        packed = to_sparse_semi_structured(weight.contiguous())
    except (ImportError, RuntimeError, ValueError):
        return None
    return lambda x: F.linear(x, packed)
