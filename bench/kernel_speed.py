"""Native CPU kernels vs torch's paths vs memory bandwidth, measured by one script.

    structserve bench kernel-speed [--threads 1 2] [--rounds 7] [--mb 96] [--batch 1 16] [--json F]

Every kernel runs over a stack of layers whose weights total `--mb` MB (more than the L3), so
each call streams its weights from memory, as in decode. Variants run interleaved, round by
round (native, torch, bandwidth, next kernel, ...), so a shared machine's load hits them alike;
the table gives medians, the spread (max/min - 1 over the rounds) and ratios.
GB/s counts the bytes of the weights each variant actually reads (its own format).
With one thread, time is the thread's CPU time (time.thread_time): on a machine shared with
other jobs this drops the time the scheduler gives away, not the memory contention. With more
threads it is wall time (noisier).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from kernels import native, native_ops, torch_fast
from kernels.cpu_gemm import vllm_cpu_gemm
from model_loaders.formats.sparse24 import pack24, prune_magnitude24

OUT, IN = 1536, 576  # SmolLM2 gate/up projection shape
RANK, BLOCK, ATOMS, NNZ = 209, 32, 288, 72  # lowrank at 50% parameters; armor; dictsparse


@dataclass
class Variant:
    """One way to compute a kernel over the layer stack."""

    kernel: str
    impl: str
    nbytes: int  # weight bytes read per call over the whole stack
    run: Callable[[torch.Tensor], object]
    times: list[float] = field(default_factory=list)


def _bf(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).to(torch.bfloat16)


def _nbytes(*ts: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in ts)


def _dense_variants(layers: int) -> list[Variant]:
    ws = [_bf(OUT, IN) for _ in range(layers)]
    packed = [native_ops.PackedDense(w) for w in ws]
    nb = _nbytes(*ws)
    head = _bf(49152, IN)
    head_packed = native_ops.PackedDense(head)
    vllm = [vllm_cpu_gemm(w.clone()) for w in ws]  # vLLM's own CPU dispatch (sgl / oneDNN)
    vllm_head = vllm_cpu_gemm(head.clone())
    extra = []
    if all(g is not None for g in vllm) and vllm_head is not None:
        extra = [
            Variant("dense 1536x576", "vllm cpu gemm", nb, lambda x: [g(x) for g in vllm]),  # type: ignore[misc]
            Variant("dense 49152x576 (lm_head)", "vllm cpu gemm", _nbytes(head), vllm_head),
        ]
    return [
        *extra,
        Variant("dense 1536x576", "native", nb, lambda x: [p(x) for p in packed]),
        Variant("dense 1536x576", "torch", nb, lambda x: [F.linear(x, w) for w in ws]),
        Variant("dense 49152x576 (lm_head)", "native", _nbytes(head), head_packed),
        Variant("dense 49152x576 (lm_head)", "torch", _nbytes(head), lambda x: F.linear(x, head)),
    ]


def _sparse_variants(layers: int) -> list[Variant]:
    packs = [pack24(prune_magnitude24(_bf(OUT, IN))) for _ in range(layers)]
    kernels_ = [native_ops.Sparse24(v, m) for v, m in packs]
    table = torch_fast.nibble_table_on(torch.device("cpu"))
    nb = sum(_nbytes(v, m) for v, m in packs)

    def torch_path(x: torch.Tensor) -> object:
        return [F.linear(x, torch_fast.unpack24_fast(v, m, table)) for v, m in packs]

    armor = [
        (_bf(OUT // BLOCK, BLOCK, BLOCK), v, m, _bf(IN // BLOCK, BLOCK, BLOCK)) for v, m in packs
    ]
    armor_native = [native_ops.PackedArmor(*f) for f in armor]
    armor_nb = sum(_nbytes(*f) for f in armor)

    def armor_torch(x: torch.Tensor) -> object:
        out = []
        for a, v, m, b in armor:
            z = torch_fast.blockdiag_apply(x, b)
            u = F.linear(z, torch_fast.unpack24_fast(v, m, table))
            out.append(torch_fast.blockdiag_apply(u, a))
        return out

    return [
        Variant("sparse24 1536x576 (compressed)", "native", nb, lambda x: [k(x) for k in kernels_]),
        Variant("sparse24 1536x576 (compressed)", "torch", nb, torch_path),
        Variant("armor 1536x576 bs32", "native", armor_nb, lambda x: [k(x) for k in armor_native]),
        Variant("armor 1536x576 bs32", "torch", armor_nb, armor_torch),
    ]


def _factored_variants(layers: int) -> list[Variant]:
    lr = [(_bf(OUT, RANK), _bf(RANK, IN)) for _ in range(layers)]
    lr_native = [native_ops.PackedLowRank(u, v) for u, v in lr]
    lr_nb = sum(_nbytes(u, v) for u, v in lr)
    ds = []
    for _ in range(layers):
        index = torch.rand(ATOMS, IN).argsort(dim=0)[:NNZ].to(torch.int32)
        ds.append((_bf(OUT, ATOMS), _bf(NNZ, IN), index))
    ds_native = [native_ops.PackedDictSparse(*d) for d in ds]
    ds_nb = sum(k.dp.numel() * 2 + _nbytes(k.c_values, k.c_index) for k in ds_native)
    ds_dense = [
        (d, torch.zeros(ATOMS, IN, dtype=torch.bfloat16).scatter_(0, i.long(), c)) for d, c, i in ds
    ]
    return [
        Variant("lowrank 1536x576 r209", "native", lr_nb, lambda x: [k(x) for k in lr_native]),
        Variant(
            "lowrank 1536x576 r209",
            "torch",
            lr_nb,
            lambda x: [F.linear(F.linear(x, v), u) for u, v in lr],
        ),
        Variant(
            "dictsparse 1536x576 k288 s72", "native", ds_nb, lambda x: [k(x) for k in ds_native]
        ),
        Variant(
            "dictsparse 1536x576 k288 s72",
            "torch (dense C)",
            _nbytes(*(t for pair in ds_dense for t in pair)),
            lambda x: [F.linear(F.linear(x, c), d) for d, c in ds_dense],
        ),
    ]


def _bandwidth_variant(mb: int) -> list[Variant]:
    buf = torch.ones(mb * 1024 * 1024 // 4, dtype=torch.float32)
    ext = native.load()
    return [
        Variant("memory read", "native stream", _nbytes(buf), lambda x: ext.read_all(buf)),
        Variant("memory read", "torch sum", _nbytes(buf), lambda x: buf.sum()),
    ]


def _measure(variants: list[Variant], x: torch.Tensor, rounds: int) -> None:
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
    for v in variants:  # warm-up (packing caches, page faults)
        v.run(x)
    for _ in range(rounds):
        for v in variants:
            start = clock()
            v.run(x)
            v.times.append(clock() - start)


def _rows(variants: list[Variant], threads: int, batch: int) -> list[dict[str, object]]:
    bw = statistics.median(
        v.nbytes / t for v in variants if v.impl == "native stream" for t in v.times
    )
    dense_native = next(
        v for v in variants if v.kernel.startswith("dense 1536") and v.impl == "native"
    )
    rows = []
    for v in variants:
        med = statistics.median(v.times)
        torch_twin = next(
            (w for w in variants if w.kernel == v.kernel and w.impl.startswith("torch")), None
        )  # speedup_vs_torch: against torch's own path (F.linear / unpack + F.linear / bmm)
        rows.append(
            {
                "threads": threads,
                "batch": batch,
                "kernel": v.kernel,
                "impl": v.impl,
                "ms": round(med * 1e3, 3),
                "GB/s": round(v.nbytes / med / 1e9, 2),
                "of_bandwidth": round(v.nbytes / med / bw, 3),
                "spread": round(max(v.times) / min(v.times) - 1, 2),
                "speedup_vs_torch": (
                    round(statistics.median(torch_twin.times) / med, 2) if torch_twin else None
                ),
                "speedup_vs_native_dense": round(statistics.median(dense_native.times) / med, 2),
            }
        )
    return rows


@dataclass(frozen=True)
class SpeedConfig:
    """The flags of `structserve bench kernel-speed` (see `--help`)."""

    threads: list[int]
    batch: list[int]
    rounds: int
    mb: int
    json: str | None
    only: list[str] | None

    @classmethod
    def parse(cls, argv: list[str] | None) -> SpeedConfig:
        """Parse the command line (exits with usage on a bad flag)."""
        p = argparse.ArgumentParser(
            prog="structserve bench kernel-speed",
            description=__doc__,
            formatter_class=argparse.RawTextHelpFormatter,
        )
        p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
        p.add_argument("--batch", type=int, nargs="+", default=[1])
        p.add_argument("--rounds", type=int, default=7)
        p.add_argument("--mb", type=int, default=96, help="weight MB per kernel stack (> L3)")
        p.add_argument("--json", default=None)
        p.add_argument("--only", nargs="+", default=None, help="kernel name prefixes to run")
        a = p.parse_args(argv)
        return cls(a.threads, a.batch, a.rounds, a.mb, a.json, a.only)


def _variants(config: SpeedConfig, layers: int) -> list[Variant]:
    variants = (
        _bandwidth_variant(256)
        + _dense_variants(layers)
        + _sparse_variants(layers)
        + _factored_variants(layers)
    )
    if config.only:
        keep = ("memory", "dense 1536", *config.only)
        variants = [v for v in variants if v.kernel.startswith(keep)]
    return variants


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table (and JSON with --json)."""
    config = SpeedConfig.parse(argv)
    layers = max(1, config.mb * 1024 * 1024 // (OUT * IN * 2))
    variants = _variants(config, layers)
    rows: list[dict[str, object]] = []
    for threads in config.threads:
        torch.set_num_threads(threads)
        for batch in config.batch:
            for v in variants:
                v.times = []
            _measure(variants, _bf(batch, IN), config.rounds)
            rows += _rows(variants, threads, batch)
    print(f"isa={native.ISA_NAMES[native.cpu_isa()]} layers={layers} rounds={config.rounds}")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    if config.json:
        with open(config.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
