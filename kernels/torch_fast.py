"""Fastest correct pure-torch paths (CPU and any device): unpack caches, bmm wrappers, F.linear."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.reference import nibble_table


def unpack24_fast(values: torch.Tensor, meta: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Dense [R, C] from values [R, C/2] and meta [R, C/8]; `table` = nibble_table() on device."""
    rows, half = values.shape
    m = meta.to(torch.int32)  # [R, C/8]
    nib = torch.stack((m & 0xF, m >> 4), dim=-1).reshape(rows, half // 2)  # [R, C/4]
    pos = table[nib]  # [R, C/4, 2]
    dense = values.new_zeros(rows, half // 2, 4)
    dense.scatter_(-1, pos, values.reshape(rows, half // 2, 2))
    return dense.reshape(rows, half * 2)


def nibble_table_on(device: torch.device) -> torch.Tensor:
    """nibble_table() moved to `device` (invalid codes clamp to 0; validate meta before)."""
    return nibble_table().clamp_min(0).to(device)


def blockdiag_apply(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """y = blockdiag(blocks)·x over the last dim (one bmm). x: [..., n·bs], blocks: [n, bs, bs]."""
    n, bs, _ = blocks.shape
    lead = x.shape[:-1]
    xb = x.reshape(-1, n, bs).transpose(0, 1)  # [n, N, bs]
    yb = torch.bmm(xb, blocks.transpose(1, 2))  # [n, N, bs]
    return yb.transpose(0, 1).reshape(*lead, n * bs)


def lowrank_linear(x: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(x·Vᵀ)·Uᵀ. x: [..., I], u: [O, r], v: [r, I] -> [..., O]."""
    return F.linear(F.linear(x, v), u)
