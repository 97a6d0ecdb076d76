"""Triton kernel: fused low-rank product y = U·(V·x) without writing V·x to memory.

One program per (row m, block of outputs): it computes t = V·x [r] in registers (chunks of
the input), then y_block = U[block]·t. Runs on CUDA, or on CPU under TRITON_INTERPRET=1.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

MAX_RANK = 256  # t stays in registers up to this rank


@triton.jit
def _lowrank_kernel(
    x_ptr, u_ptr, v_ptr, y_ptr, n_in, n_out, rank,
    BLOCK_R: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_O: tl.constexpr,
):  # fmt: skip
    m = tl.program_id(0)
    ob = tl.program_id(1)
    r = tl.arange(0, BLOCK_R)
    t = tl.zeros([BLOCK_R], dtype=tl.float32)
    for start in range(0, n_in, BLOCK_I):
        i = start + tl.arange(0, BLOCK_I)
        x = tl.load(x_ptr + m * n_in + i, mask=i < n_in, other=0.0).to(tl.float32)  # [BLOCK_I]
        vmask = (r[:, None] < rank) & (i[None, :] < n_in)
        v = tl.load(v_ptr + r[:, None] * n_in + i[None, :], mask=vmask, other=0.0).to(tl.float32)
        t += tl.sum(v * x[None, :], axis=1)  # [BLOCK_R]
    o = ob * BLOCK_O + tl.arange(0, BLOCK_O)
    umask = (o[:, None] < n_out) & (r[None, :] < rank)
    u = tl.load(u_ptr + o[:, None] * rank + r[None, :], mask=umask, other=0.0).to(tl.float32)
    y = tl.sum(u * t[None, :], axis=1)  # [BLOCK_O]
    tl.store(y_ptr + m * n_out + o, y.to(y_ptr.dtype.element_ty), mask=o < n_out)


def lowrank_linear_triton(x: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """y = (x·Vᵀ)·Uᵀ fused.

    Args:
        x: [..., I].
        u: [O, r] with r <= MAX_RANK.
        v: [r, I].

    Returns:
        [..., O] in x's dtype.
    """
    n_out, rank = u.shape
    n_in = v.shape[1]
    if rank > MAX_RANK:
        raise ValueError(f"rank {rank} > {MAX_RANK}: use the torch path")
    x2 = x.reshape(-1, n_in).contiguous()  # [M, I]
    y = torch.empty(x2.shape[0], n_out, dtype=x.dtype, device=x.device)
    block_o = min(64, triton.next_power_of_2(n_out))
    grid = (x2.shape[0], triton.cdiv(n_out, block_o))
    _lowrank_kernel[grid](
        x2, u.contiguous(), v.contiguous(), y, n_in, n_out, rank,
        BLOCK_R=triton.next_power_of_2(rank), BLOCK_I=64, BLOCK_O=block_o,
    )  # fmt: skip
    return y.reshape(*x.shape[:-1], n_out)
