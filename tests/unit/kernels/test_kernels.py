"""Fast kernels (through the dispatcher, kernels.kernel) against kernels.reference on fresh
random inputs, parametrized by device.

Triton kernels run on CUDA, or on CPU under TRITON_INTERPRET=1 (small shapes: ~100 ms/launch).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import kernels
from kernels import reference, torch_fast
from model_loaders.formats.sparse24 import pack24, prune_magnitude24

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]
HAS_TRITON = importlib.util.find_spec("triton") is not None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_blockdiag_torch(device: str, backend: str) -> None:
    x = torch.randn(3, 5, 48, device=device)  # [..., n·bs]
    blocks = torch.randn(3, 16, 16, device=device)  # [n, bs, bs]
    want = x @ reference.blockdiag_dense(blocks).t()
    got = kernels.kernel("blockdiag", {"blocks": blocks}, backend=backend)(x)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_lowrank_torch(device: str) -> None:
    x, u, v = (torch.randn(*s, device=device) for s in ((4, 40), (24, 6), (6, 40)))
    want = x @ (u @ v).t()
    for backend in ("auto", "torch", "reference"):
        got = kernels.kernel("lowrank", {"U": u, "V": v}, backend=backend)(x)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_unpack24_fast(device: str) -> None:
    w = prune_magnitude24(torch.randn(24, 64)).to(device)
    values, meta = pack24(w.cpu())
    table = torch_fast.nibble_table_on(torch.device(device))
    got = torch_fast.unpack24_fast(values.to(device), meta.to(device), table)
    torch.testing.assert_close(got, w)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["sparse24", "armor", "dictsparse", "dense"])
def test_dispatcher_paths_match_reference(device: str, op: str) -> None:
    """Every backend of every op that applies here agrees with the op's reference backend."""
    x = torch.randn(3, 32, device=device)  # [N, I]
    values, meta = (t.to(device) for t in pack24(prune_magnitude24(torch.randn(32, 32))))
    tensors = {
        "dense": {"weight": torch.randn(24, 32)},
        "sparse24": {"values": values, "meta": meta},
        "armor": {"A": torch.randn(4, 8, 8), "B": torch.randn(4, 8, 8), "values": values,
                  "meta": meta},
        "dictsparse": {"D": torch.randn(24, 8), "C_values": torch.randn(2, 32),
                       "C_index": torch.stack([torch.randperm(8)[:2] for _ in range(32)], 1)},
    }[op]  # fmt: skip
    tensors = {k: t.to(device) for k, t in tensors.items()}
    want = kernels.kernel(op, tensors, backend="reference")(x)
    for backend in ("auto", "torch", "composed"):
        try:
            got = kernels.kernel(op, tensors, backend=backend)(x)
        except kernels.UnknownKernelError:
            continue  # this op has no such backend
        torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("device", DEVICES)
def test_reference_formats_agree_with_effective_weights(device: str) -> None:
    x = torch.randn(2, 32, device=device)
    a, b = torch.randn(4, 8, 8, device=device), torch.randn(4, 8, 8, device=device)
    values, meta = (t.to(device) for t in pack24(prune_magnitude24(torch.randn(32, 32))))
    want = x @ reference.armor_dense(a, values, meta, b).t()
    torch.testing.assert_close(
        reference.armor_linear(x, a, values, meta, b), want, atol=1e-3, rtol=1e-3
    )
    d, cv = torch.randn(32, 8, device=device), torch.randn(2, 32, device=device)
    ci = torch.stack([torch.randperm(8)[:2] for _ in range(32)], dim=1).to(device)  # [s, I]
    c = reference.dictsparse_coefficients(cv, ci, 8)
    torch.testing.assert_close(
        reference.dictsparse_linear(x, d, cv, ci), x @ (d @ c).t(), atol=1e-3, rtol=1e-3
    )


def test_unknown_backend() -> None:
    with pytest.raises(kernels.UnknownKernelError):
        kernels.kernel("lowrank", {"U": torch.zeros(2, 1), "V": torch.zeros(1, 2)}, backend="cuda")
    with pytest.raises(kernels.UnknownKernelError):
        kernels.kernel("spense", {})


@pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")
def test_triton_kernels_interpreted_on_cpu() -> None:
    """The blockdiag Triton kernel vs the reference under TRITON_INTERPRET=1."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, "-m", "tests.unit.kernels.triton_check", "cpu"]
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        cmd, cwd=root, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.skipif(not (HAS_TRITON and torch.cuda.is_available()), reason="no CUDA")
def test_triton_kernels_cuda() -> None:
    from tests.unit.kernels.triton_check import check

    check("cuda")


def test_auto_never_picks_triton_on_cpu() -> None:
    assert kernels.choices("blockdiag", {"blocks": torch.randn(2, 4, 4)}) == ["torch"]


def test_auto_on_cpu_keeps_serving_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the native kernels off, CPU serving runs vLLM's GEMM / torch, never CUDA paths."""
    monkeypatch.setenv("STRUCTSERVE_NATIVE_KERNELS", "off")
    w = torch.randn(8, 8, dtype=torch.bfloat16)
    values, meta = pack24(prune_magnitude24(w))
    assert kernels.choices("dense", {"weight": w}) == ["vllm", "torch"]
    assert kernels.choices("sparse24", {"values": values, "meta": meta}) == ["torch"]
    assert kernels.choices("armor", {"values": values, "meta": meta}) == ["composed"]


@pytest.mark.parametrize("f_linear", [False, True])
def test_auto_leaves_plain_dense_to_vllm_unless_it_is_f_linear_or_native_is_forced(
    monkeypatch: pytest.MonkeyPatch, f_linear: bool
) -> None:
    """Dense "auto" is vLLM's own GEMM where it has a kernel (measured faster than native),
    native first where vLLM's GEMM is only F.linear (measured slower); STRUCTSERVE_NATIVE_KERNELS=on
    forces native first, and the compressed formats keep theirs under "auto"."""
    from kernels import cpu_gemm
    from tests.prereq import require_native_kernels

    require_native_kernels()
    monkeypatch.setattr(cpu_gemm, "falls_back_to_torch", lambda o, i, dtype: f_linear)
    w = torch.randn(8, 16, dtype=torch.bfloat16)
    values, meta = pack24(prune_magnitude24(w))
    monkeypatch.setenv("STRUCTSERVE_NATIVE_KERNELS", "auto")
    auto = ["native", "vllm", "torch"] if f_linear else ["vllm", "torch"]
    assert kernels.choices("dense", {"weight": w}) == auto
    assert kernels.choices("sparse24", {"values": values, "meta": meta}) == ["native", "torch"]
    monkeypatch.setenv("STRUCTSERVE_NATIVE_KERNELS", "on")
    assert kernels.choices("dense", {"weight": w}) == ["native", "vllm", "torch"]
    monkeypatch.setenv("STRUCTSERVE_NATIVE_KERNELS", "off")
    assert kernels.choices("dense", {"weight": w}) == ["vllm", "torch"]


@pytest.mark.parametrize("shape", [(1536, 576), (64, 64)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_the_f_linear_probe_agrees_with_vllms_dispatch(
    shape: tuple[int, int], dtype: torch.dtype
) -> None:
    """The probe says "F.linear" exactly when vLLM's own dispatch of a real weight of that shape
    keeps the weight for F.linear (it prepacks and drops it for every kernel it has)."""
    pytest.importorskip("vllm")
    from kernels import cpu_gemm

    holder = cpu_gemm._dispatched(torch.randn(*shape).to(dtype))
    if holder is None:
        pytest.skip("vLLM is not on its CPU platform here")
    kept = holder.weight.numel() > 0
    assert cpu_gemm.falls_back_to_torch(*shape, dtype) is kept
    x = torch.randn(3, shape[1]).to(dtype)
    gemm = cpu_gemm.vllm_cpu_gemm(torch.ones(*shape, dtype=dtype))
    assert gemm is not None
    torch.testing.assert_close(
        gemm(x).float(), x.float().sum(-1, keepdim=True).expand(3, shape[0]), rtol=2e-2, atol=2e-1
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_semi_structured_gemm_cuda() -> None:
    from kernels.cuda_sparse24 import semi_structured_gemm

    w = prune_magnitude24(torch.randn(128, 128)).half().cuda()
    gemm = semi_structured_gemm(w)
    if gemm is None:
        pytest.skip("no semi-structured support on this GPU")
    x = torch.randn(32, 128).half().cuda()
    torch.testing.assert_close(gemm(x), x @ w.t(), atol=1e-1, rtol=1e-2)


def test_semi_structured_gemm_is_none_on_cpu() -> None:
    from kernels.cuda_sparse24 import semi_structured_gemm

    assert semi_structured_gemm(torch.zeros(8, 8)) is None
