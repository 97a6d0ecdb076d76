"""PNG plots of a run: latency percentiles against throughput, and the TTFT CDF (and the
matplotlib set-up the other benchmark plots share)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib  # imported lazily: plotting is the last, optional step

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _by_target(points: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for p in points:
        out.setdefault(p["target"], []).append(p)
    return out


def latency_vs_throughput(points: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """TTFT and ITL p50/p90/p99 against output-token throughput, one line per target.

    Args:
        points: the run's point summaries.
        path: where to write the PNG.

    Returns:
        The path written.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("ttft", "itl"), strict=True):
        for target, rows in _by_target(points).items():
            rows = sorted(rows, key=lambda p: p["output_throughput"])
            x = [p["output_throughput"] for p in rows]
            for pct, style in (("median", "-o"), ("p90", "--s"), ("p99", ":^")):
                y = [p[f"{pct}_{metric}_ms"] for p in rows]
                if any(v is not None for v in y):
                    ax.plot(
                        x,
                        [float("nan") if v is None else v for v in y],
                        style,
                        label=f"{target} {pct.replace('median', 'p50')}",
                    )
        ax.set_xlabel("output throughput (tok/s)")
        ax.set_ylabel(f"{metric.upper()} (ms)")
        ax.set_yscale("log")
        _grid_and_legend(ax)
    fig.suptitle("Latency percentiles against throughput")
    return save(plt, fig, path)


def ttft_cdf(points: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Empirical CDF of TTFT, one curve per (target, point).

    Args:
        points: the run's point summaries (with their per-request `ttfts`).
        path: where to write the PNG.

    Returns:
        The path written.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for p in points:
        values = sorted(v * 1000.0 for v in p.get("ttfts", []) if v is not None)
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            ax.step(values, ys, where="post", label=f"{p['target']} {p['label']}")
    ax.set_xscale("log")
    ax.set_xlabel("TTFT (ms)")
    ax.set_ylabel("share of requests")
    _grid_and_legend(ax)
    ax.set_title("TTFT CDF")
    return save(plt, fig, path)


def _grid_and_legend(ax: Any) -> None:
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def save(plt: Any, fig: Any, path: Path, *, dpi: int = 110) -> Path:
    """Lay out, write `fig` as a PNG at `path` and close it; returns `path`."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
