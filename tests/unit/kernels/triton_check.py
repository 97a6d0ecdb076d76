"""Triton kernels against kernels.reference; run as a script so TRITON_INTERPRET=1 is set
before triton is first imported (an already-imported triton, e.g. by vLLM, cannot switch).

    TRITON_INTERPRET=1 python -m tests.unit.kernels.triton_check cpu
"""

from __future__ import annotations

import sys

import torch

import kernels
from kernels import reference


def check(device: str) -> None:
    """Assert the Triton kernel matches the reference on fresh random inputs (small shapes)."""
    torch.manual_seed(0)
    for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 3e-2)):
        x = torch.randn(2, 48, device=device, dtype=dtype)
        blocks = torch.randn(2, 24, 24, device=device, dtype=dtype)  # bs not a power of two
        want = reference.blockdiag_apply(x.float(), blocks.float()).to(dtype)
        got = kernels.kernel("blockdiag", {"blocks": blocks}, backend="triton")(x)
        torch.testing.assert_close(got, want, atol=tol, rtol=tol)


if __name__ == "__main__":
    check(sys.argv[1] if len(sys.argv) > 1 else "cpu")
    print("ok")
