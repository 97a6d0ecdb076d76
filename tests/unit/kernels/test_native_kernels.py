"""Native CPU kernels (kernels/csrc) against kernels.reference on fresh random inputs.

Every instruction-set path this CPU has (AVX2, AVX-512, AVX512-BF16) x bf16 / fp32 activations
x 1 / 2 threads, on odd and aligned shapes and batches 1..64.

Tolerances, as max|got - want| / max|want| against the reference evaluated in fp32 on the same
(bf16-valued) weights and inputs:
* bf16 activations: 1.5e-2 (bf16 output rounding, 2^-9, plus bf16-rounded intermediates of the
  two- and three-stage kernels, as torch's bf16 path rounds them);
* fp32 activations: 5e-5 (inputs split into two bf16 parts: exact products, fp32 sums).
The first run compiles the extension (about a minute, cached under ~/.cache/structserve).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

import kernels
from kernels import native, reference
from model_loaders.formats.sparse24 import pack24, prune_magnitude24

TOL = {torch.bfloat16: 1.5e-2, torch.float32: 5e-5}
DENSE_SHAPES = [(37, 51), (64, 64), (100, 130), (576, 576)]  # (O, I): odd O and I, aligned
SPARSE_SHAPES = [(37, 72), (64, 64), (100, 200), (192, 576)]  # I % 8 == 0 (format rule)
BATCHES = [1, 3, 9, 16, 64]


def _batches(*dims: int) -> list[int]:
    """Every batch for small layers; the big (aligned) ones check 1, 16 and 64 only."""
    size = 1
    for d in dims:
        size *= d
    return BATCHES if size <= 100 * 200 else [1, 16, 64]


def _isas() -> list[int]:
    try:
        best = native.load().cpu_isa()
    except native.NativeUnavailableError:
        return []
    return list(range(1, int(best) + 1))


ISAS = _isas()
pytestmark = pytest.mark.skipif(not ISAS, reason="native kernels unavailable (no compiler/AVX2)")


@pytest.fixture
def threads(isa: int) -> Iterator[int]:
    """1 thread for every ISA; the best ISA runs again with 2 threads (ISAS[-1] + 1 below)."""
    count = 2 if isa > ISAS[-1] else 1
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    yield count
    torch.set_num_threads(before)


def _level(isa: int) -> int:
    return min(isa, ISAS[-1])


def _check(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, what: str) -> None:
    assert got.dtype == dtype and got.shape == want.shape, what
    err = (got.float() - want.float()).abs().max() / want.float().abs().max().clamp_min(1e-6)
    assert float(err) <= TOL[dtype], f"{what}: relative error {float(err):.2e}"


def _bf(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).to(torch.bfloat16)


def _x(n: int, i: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(n, i).to(dtype)


def _isa_id(v: object) -> str:
    if isinstance(v, int):
        return f"{native.ISA_NAMES[ISAS[-1]]}-2threads" if v > ISAS[-1] else native.ISA_NAMES[v]
    return str(v).split(".")[-1]


# (isa, dtype); isa ISAS[-1] + 1 stands for "the best ISA with 2 threads" (see `threads`).
params = pytest.mark.parametrize(
    ("isa", "dtype"),
    [
        (i, d)
        for i in ([*ISAS, ISAS[-1] + 1] if ISAS else [])
        for d in (torch.bfloat16, torch.float32)
    ],
    ids=_isa_id,
)


@params
def test_dense(isa: int, dtype: torch.dtype, threads: int) -> None:
    from kernels.native_ops import PackedDense

    for o, i in DENSE_SHAPES:
        w, b = _bf(o, i), _bf(o)
        packed = PackedDense(w)
        for n in _batches(o, i):
            x = _x(n, i, dtype)
            want = reference.dense_linear(x.float(), w.float(), b.float())
            _check(packed(x, b, isa=_level(isa)), want, dtype, f"dense {o}x{i} batch {n}")


@params
def test_sparse24(isa: int, dtype: torch.dtype, threads: int) -> None:
    from kernels.native_ops import Sparse24

    for o, i in SPARSE_SHAPES:
        values, meta = pack24(prune_magnitude24(_bf(o, i)))
        b = _bf(o)
        kernel = Sparse24(values, meta)
        for n in _batches(o, i):
            x = _x(n, i, dtype)
            want = reference.sparse24_linear(x.float(), values.float(), meta, b.float())
            _check(kernel(x, b, isa=_level(isa)), want, dtype, f"sparse24 {o}x{i} batch {n}")


@params
def test_lowrank(isa: int, dtype: torch.dtype, threads: int) -> None:
    from kernels.native_ops import PackedLowRank

    for o, i, r in [(37, 51, 7), (576, 576, 144), (100, 64, 33)]:
        u, v, b = _bf(o, r) / r**0.5, _bf(r, i), _bf(o)
        kernel = PackedLowRank(u, v)
        for n in _batches(o, i):
            x = _x(n, i, dtype)
            want = reference.lowrank_linear(x, u.to(dtype), v.to(dtype), b.to(dtype))
            _check(kernel(x, b, isa=_level(isa)), want, dtype, f"lowrank {o}x{i} r{r} batch {n}")


@params
def test_blockdiag(isa: int, dtype: torch.dtype, threads: int) -> None:
    from kernels.native_ops import PackedBlockDiag

    for n_blocks, bs in [(3, 16), (4, 32), (2, 48), (5, 7)]:
        blocks = _bf(n_blocks, bs, bs)
        kernel = PackedBlockDiag(blocks)
        for n in BATCHES:
            x = _x(n, n_blocks * bs, dtype)
            want = reference.blockdiag_apply(x.float(), blocks.float())
            _check(kernel(x, isa=_level(isa)), want, dtype, f"blockdiag {n_blocks}x{bs} batch {n}")


@params
def test_armor(isa: int, dtype: torch.dtype, threads: int) -> None:
    from kernels.native_ops import PackedArmor

    for o, i, bs in [(64, 96, 32), (192, 576, 32), (48, 64, 16)]:
        a, bb = _bf(o // bs, bs, bs) / bs**0.5, _bf(i // bs, bs, bs) / bs**0.5
        values, meta = pack24(prune_magnitude24(_bf(o, i)))
        b = _bf(o)
        kernel = PackedArmor(a, values, meta, bb)
        for n in _batches(o, i):
            x = _x(n, i, dtype)
            want = reference.armor_linear(
                x, a.to(dtype), values.to(dtype), meta, bb.to(dtype), b.to(dtype)
            )
            _check(kernel(x, b, isa=_level(isa)), want, dtype, f"armor {o}x{i} bs{bs} batch {n}")


@params
def test_dictsparse(isa: int, dtype: torch.dtype, threads: int) -> None:
    from kernels.native_ops import PackedDictSparse

    for o, i, k, s in [(37, 51, 20, 3), (192, 576, 96, 24), (64, 200, 16, 16)]:
        d, b = _bf(o, k) / k**0.5, _bf(o)
        c_index = torch.rand(k, i).argsort(dim=0)[:s].sort(dim=0).values.to(torch.int32)
        c_values = _bf(s, i) / s**0.5
        kernel = PackedDictSparse(d, c_values, c_index)
        for n in _batches(o, i):
            x = _x(n, i, dtype)
            want = reference.dictsparse_linear(
                x, d.to(dtype), c_values.to(dtype), c_index, b.to(dtype)
            )
            _check(kernel(x, b, isa=_level(isa)), want, dtype, f"dictsparse {o}x{i} k{k} batch {n}")


def _every_op() -> list[tuple[str, dict[str, torch.Tensor]]]:
    """One small weight set per dispatcher op, for [..., 64] inputs (40 outputs, blockdiag 64)."""
    w = _bf(40, 64)
    values, meta = pack24(prune_magnitude24(w))
    u, v = _bf(40, 8), _bf(8, 64)
    a, bb = _bf(5, 8, 8), _bf(8, 8, 8)
    d, cv = _bf(40, 16), _bf(4, 64)
    ci = torch.rand(16, 64).argsort(dim=0)[:4].to(torch.int32)
    return [
        ("dense", {"weight": w}),
        ("sparse24", {"values": values, "meta": meta}),
        ("lowrank", {"U": u, "V": v}),
        ("blockdiag", {"blocks": bb}),
        ("armor", {"A": a, "values": values, "meta": meta, "B": bb}),
        ("dictsparse", {"D": d, "C_values": cv, "C_index": ci}),
    ]


def test_dispatcher_native_backend() -> None:
    """Every kernel is reachable through kernels.kernel with backend="native" (3-D activations)."""
    x = _bf(2, 3, 64)
    b = _bf(40)
    for op, tensors in _every_op():
        wide = {k: t.float() if t.is_floating_point() else t for k, t in tensors.items()}
        got = kernels.kernel(op, tensors, backend="native")(x)
        want = kernels.kernel(op, wide, backend="reference")(x.float())
        if op != "blockdiag":  # the linear ops with a bias add it after the kernel
            got, want = got + b, want + b.float()
        _check(got, want, torch.bfloat16, op)
        assert got.shape[:2] == (2, 3)


def _doubled(forward: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    return lambda t: forward(t) * 2  # [N, O]: the kernel inside a larger graph


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_every_kernel_traces_whole_under_torch_compile(dtype: torch.dtype) -> None:
    """vLLM compiles the model unless --enforce-eager: each native kernel is a torch operator
    (kernels/native_library.py), so a compiled layer is one graph (fullgraph: no break) and
    computes what the eager call does."""
    x = _bf(5, 64).to(dtype)
    for op, tensors in _every_op():
        forward = kernels.kernel(op, tensors, backend="native")
        torch._dynamo.reset()
        compiled = torch.compile(_doubled(forward), fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(x), forward(x) * 2, rtol=0, atol=0, msg=op)


def test_isa_above_cpu_is_refused() -> None:
    from kernels.native_ops import PackedDense

    with pytest.raises(RuntimeError, match="not available"):
        PackedDense(_bf(32, 32))(_bf(1, 32), isa=max(ISAS) + 1)


def test_mode_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.MODE_ENV, "off")
    assert native.native_mode() == "off" and not native.enabled()
    monkeypatch.setenv(native.MODE_ENV, "on")
    assert native.enabled()
    monkeypatch.setenv(native.MODE_ENV, "sometimes")
    with pytest.raises(native.NativeModeError):
        native.native_mode()


def test_missing_compiler_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "no-such-compiler-structserve")
    with pytest.raises(native.NativeUnavailableError, match="no C\\+\\+ compiler"):
        native._build()
