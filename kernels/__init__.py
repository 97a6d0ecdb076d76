"""Linear kernels for the compressed formats: pure-torch references, fast paths, one dispatcher.

`kernels.dispatch.kernel(op, tensors, backend="auto")` is the only place a path is chosen;
kernels/reference.py is the pure-torch reference of every op, and each fast path (torch_fast,
native_ops over kernels/csrc, cuda_sparse24, triton_blockdiag, cpu_gemm) is one file.
"""

from kernels.dispatch import (
    BACKENDS,
    OPS,
    Forward,
    KernelUnavailableError,
    UnknownKernelError,
    choices,
    kernel,
)

__all__ = [
    "BACKENDS",
    "OPS",
    "Forward",
    "KernelUnavailableError",
    "UnknownKernelError",
    "choices",
    "kernel",
]
