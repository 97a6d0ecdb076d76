"""Table and plot of the speculative-decoding benchmark (docs/benchmarks.md).

Each run directory (written by scripts/speculative_bench.sh NAME ...) holds `result/result.json`
(`structserve bench serve`), `spec_metrics.txt` (the gateway's spec-decode metrics after the
run) and `models.json` (/v1/models, with the draft's report). Runs named `X` and `X@2`, `X@3`
are rounds of the same configuration; `none` rounds are the baseline. Several run directories
(`LABEL=DIR`, one per benchmark session) are summarized separately — each against its own
`none` — and listed together with a session column.

    .venv/bin/python scripts/speculative_report.py s1=RUNS_DIR [s2=RUNS_DIR2 ...] \
        --png docs/speculative_speedup.png
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def _metric(text: str, name: str, position: str | None = None) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if position is not None and f'position="{position}"' not in line:
            continue
        return float(line.rsplit(" ", 1)[1])
    return None


def load_run(run: Path) -> dict[str, Any]:
    """One run's c1/c8 throughput and TPOT, acceptance, and draft size."""
    result = json.loads((run / "result" / "result.json").read_text())
    points = {p["label"]: p for p in result["points"]}
    text = (run / "spec_metrics.txt").read_text() if (run / "spec_metrics.txt").exists() else ""
    card = json.loads((run / "models.json").read_text())["data"][0]["structserve"]
    spec = card.get("speculative") or {}
    draft = spec.get("draft") or {}
    out: dict[str, Any] = {"name": run.name.split("@")[0], "method": spec.get("method", "none")}
    for label in ("c1", "c8"):
        p = points.get(label, {})
        out[f"{label}_tok_s"] = p.get("output_throughput")
        out[f"{label}_tpot"] = p.get("median_tpot_ms")
    c1 = points.get("c1", {})
    decode_s = sum(e - t for e, t in zip(c1.get("latencies", []), c1.get("ttfts", []), strict=True))
    decoded = sum(n - 1 for n in c1.get("output_lens", []))
    out["c1_decode_ms"] = 1000 * decode_s / decoded if decoded else None
    out["acceptance"] = _metric(text, "structserve_spec_decode_acceptance_rate")
    out["mean_len"] = _metric(text, "structserve_spec_decode_mean_accepted_length")
    out["per_pos"] = [
        _metric(text, "structserve_spec_decode_position_acceptance_rate", str(i)) for i in range(3)
    ]
    out["draft_bytes"] = draft.get("draft_bytes")
    out["target_bytes"] = draft.get("target_bytes")
    out["distill"] = draft.get("distill")
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def summarize(runs: list[dict[str, Any]], session: str = "") -> list[dict[str, Any]]:
    """Average rounds per configuration; speedups against the session's mean `none` run."""
    names = list(dict.fromkeys(r["name"] for r in runs))
    rows = []
    for name in names:
        group = [r for r in runs if r["name"] == name]
        row = dict(group[0])
        row["rounds"] = len(group)
        row["session"] = session
        for key in ("c1_tok_s", "c8_tok_s", "c1_tpot", "c8_tpot", "c1_decode_ms"):
            row[key] = _mean([g[key] for g in group])
            row[key + "_spread"] = [g[key] for g in group]
        rows.append(row)
    base = next(r for r in rows if r["name"] == "none")
    for row in rows:
        row["c1_speedup"] = row["c1_tok_s"] / base["c1_tok_s"]
        row["c8_speedup"] = row["c8_tok_s"] / base["c8_tok_s"]
    return rows


def cost_model(rows: list[dict[str, Any]], k: int = 3) -> dict[str, float] | None:
    """Fit one session's c1 draft-and-verify step against the draft's byte share r.

    step_ms = a + b·r by least squares over the draft runs; with t1 the `none` decode step,
    v = a / t1 (verification + per-step overhead) and c(r) = b / k / t1 · r (one draft forward).
    Each row gets `predicted` = L / (v + k·c(r)), the cost model's c1 speedup. None (and no
    predictions) with fewer than two distinct draft sizes.
    """
    pts = [
        (r["draft_bytes"] / r["target_bytes"], r["c1_decode_ms"] * (r["mean_len"] or 1), r)
        for r in rows
        if r["draft_bytes"] and r["c1_decode_ms"]
    ]
    if len({x for x, _, _ in pts}) < 2:
        return None
    mx, my = statistics.fmean(x for x, _, _ in pts), statistics.fmean(y for _, y, _ in pts)
    b = sum((x - mx) * (y - my) for x, y, _ in pts) / sum((x - mx) ** 2 for x, _, _ in pts)
    a = my - b * mx
    t1 = next(r["c1_decode_ms"] for r in rows if r["name"] == "none")
    fit = {"step_ms": a, "per_r_ms": b, "t1_ms": t1, "v": a / t1, "c_per_r": b / k / t1}
    for x, _, r in pts:
        r["predicted"] = (r["mean_len"] or 1) / (fit["v"] + k * fit["c_per_r"] * x)
    return fit


def _fmt(v: Any, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the configurations."""
    head = (
        "| config | session | rounds | c1 out tok/s | c1 TPOT p50 ms | c1 speedup | c8 out tok/s | "
        "c8 TPOT p50 ms | c8 speedup | acceptance | mean accepted length | per position | "
        "draft MB (of target) | c1 decode ms/token | c1 ms per step | c1 cost model |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        size = "–"
        if r["draft_bytes"]:
            size = f"{r['draft_bytes'] / 1e6:.0f} ({r['draft_bytes'] / r['target_bytes']:.2f})"
        pos = "/".join(_fmt(p) for p in r["per_pos"]) if r["acceptance"] is not None else "–"
        lines.append(
            f"| {r['name']} | {r['session']} | {r['rounds']} | {_fmt(r['c1_tok_s'], '.1f')} | "
            f"{_fmt(r['c1_tpot'], '.1f')} | {_fmt(r['c1_speedup'])}× | "
            f"{_fmt(r['c8_tok_s'], '.1f')} | {_fmt(r['c8_tpot'], '.1f')} | "
            f"{_fmt(r['c8_speedup'])}× | {_fmt(r['acceptance'])} | {_fmt(r['mean_len'])} | "
            f"{pos} | {size} | {_fmt(r['c1_decode_ms'], '.1f')} | "
            f"{_fmt((r['c1_decode_ms'] or 0) * (r['mean_len'] or 1), '.1f')} | "
            f"{_fmt(r.get('predicted'))}{'×' if r.get('predicted') else ''} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], png: Path) -> None:
    """Single-stream speedup against draft size (share of the target's bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 5.0))
    sessions = list(dict.fromkeys(r["session"] for r in rows))
    markers = "osD^v"
    placed: list[tuple[float, float]] = []  # label positions so far, to keep labels apart
    for r in rows:
        if r["draft_bytes"]:
            x = r["draft_bytes"] / r["target_bytes"]
            mark = markers[sessions.index(r["session"]) % len(markers)]
            label = f"{r['name']} ({r['session']})" if len(sessions) > 1 else r["name"]
            ax.scatter([x], [r["c1_speedup"]], s=40, marker=mark)
            near = sum(abs(px - x) < 0.02 and abs(py - r["c1_speedup"]) < 0.04 for px, py in placed)
            placed.append((x, r["c1_speedup"]))
            ax.annotate(
                label,
                (x, r["c1_speedup"]),
                textcoords="offset points",
                xytext=(5 + 58 * near, 2 - 14 * near),
                fontsize=8,
                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "gray"} if near else None,
            )
    for r in rows:
        if r["name"] == "ngram":
            ax.axhline(r["c1_speedup"], ls="--", c="gray", lw=1, label=f"ngram ({r['session']})")
    ax.axhline(1.0, c="black", lw=0.8, label="no speculation")
    ax.axhline(1.5, c="red", ls=":", lw=1, label="target 1.5×")
    ax.set_xlabel("draft size / target size (bytes)")
    ax.set_ylabel("single-stream output tok/s vs no speculation")
    ax.set_title("SmolLM2-135M, k = 3, vLLM CPU")
    ax.set_xlim(0, 1.25)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main() -> None:
    """CLI: print the table (and JSON rows), draw the plot."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run directory, or LABEL=DIR per session")
    p.add_argument("--png", type=Path, default=None)
    args = p.parse_args()
    rows = []
    for spec in args.runs:
        label, _, path = spec.rpartition("=")
        base = Path(path)
        runs = [load_run(d) for d in sorted(base.iterdir()) if (d / "result").is_dir()]
        session = summarize(runs, label or base.name)
        fit = cost_model(session)
        if fit:
            print(
                f"{label or base.name}: step = {fit['step_ms']:.1f} ms + 3 × "
                f"{fit['per_r_ms'] / 3:.1f} ms × r; t1 = {fit['t1_ms']:.1f} ms; "
                f"v = {fit['v']:.2f}, c = {fit['c_per_r']:.2f}·r"
            )
        rows += session
    print(table(rows))
    keys = ("name", "session", "c1_tok_s_spread", "c8_tok_s_spread", "distill")
    print(json.dumps([{k: r[k] for k in keys} for r in rows], indent=1))
    if args.png:
        plot(rows, args.png)


if __name__ == "__main__":
    main()
