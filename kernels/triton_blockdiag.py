"""Triton kernel: block-diagonal matrix times activations (the ARMOR wrappers).

y[m, n·bs + i] = Σ_j blocks[n, i, j] · x[m, n·bs + j]. One program per (row m, block n).
Runs on CUDA, or on CPU under TRITON_INTERPRET=1 (tests only: ~100 ms a launch).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _blockdiag_kernel(x_ptr, w_ptr, y_ptr, width, bs, BLOCK: tl.constexpr):
    m = tl.program_id(0)
    n = tl.program_id(1)
    i = tl.arange(0, BLOCK)
    mask = i < bs
    x = tl.load(x_ptr + m * width + n * bs + i, mask=mask, other=0.0).to(tl.float32)  # [BLOCK]
    rows = i[:, None]
    cols = i[None, :]
    wmask = (rows < bs) & (cols < bs)
    w = tl.load(w_ptr + n * bs * bs + rows * bs + cols, mask=wmask, other=0.0).to(tl.float32)
    y = tl.sum(w * x[None, :], axis=1)  # [BLOCK]
    tl.store(y_ptr + m * width + n * bs + i, y.to(y_ptr.dtype.element_ty), mask=mask)


def blockdiag_apply_triton(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """y = blockdiag(blocks)·x over the last dim.

    Args:
        x: [..., n·bs], any float dtype (accumulates in fp32).
        blocks: [n, bs, bs].

    Returns:
        [..., n·bs] in x's dtype.
    """
    n, bs, _ = blocks.shape
    width = n * bs
    x2 = x.reshape(-1, width).contiguous()  # [M, n·bs]
    w = blocks.to(x.dtype).contiguous()
    y = torch.empty_like(x2)
    grid = (x2.shape[0], n)
    _blockdiag_kernel[grid](x2, w, y, width, bs, BLOCK=triton.next_power_of_2(bs))
    return y.reshape(x.shape)
