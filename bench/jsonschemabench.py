"""`structserve bench jsonschemabench`: JSONSchemaBench against any OpenAI-compatible server.

For each sampled schema: the benchmark's prompt (system line, two worked examples, the schema as
the user turn), `response_format: json_schema` (strict by default), temperature 0, streamed, with
a compile timeout (until the response starts) and a generation timeout. A 4xx answer means the
server declared the schema unsupported. Outputs are validated here with jsonschema (the schema's
draft, Draft 2020-12 by default, format assertions on).

Reports per subset: declared coverage, empirical coverage, compliance, median compile time (the
gateway's `structured_output.compile_ms`, when present), TTFT, TPOT; JSON, markdown and PNG,
next to the paper's published numbers. `--tpot` also measures constrained against unconstrained
TPOT at the given concurrencies. Examples:

    structserve bench jsonschemabench --base-url http://127.0.0.1:8000 --limit 5 --max-tokens 256
    structserve bench jsonschemabench --declared-only --limit 100   # coverage only (1 token)
    structserve bench jsonschemabench --tpot 1,16 --subsets Glaiveai2K --limit 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from bench import jsb_report
from bench.jsb_data import SUBSETS, Case, data_root, load_cases, messages
from bench.options import resolve_model
from bench.records import json_schema_format
from compress.options import from_namespace
from compress.shared_data import shared_data_dir

DEFAULT_CACHE = Path.home() / ".cache" / "structserve" / "jsonschemabench"


@dataclass(frozen=True)
class JsbConfig:
    """The flags of `structserve bench jsonschemabench` (see `--help`), parsed once."""

    base_url: str
    model: str | None
    api_key: str | None
    data: Path
    cache: Path
    subsets: str
    limit: int
    seed: int
    max_tokens: int
    concurrency: int
    compile_timeout: float
    gen_timeout: float
    strict: bool
    declared_only: bool
    tpot: str | None
    tpot_tokens: int
    tpot_rounds: int
    extra_body: dict[str, Any]
    out: Path

    @classmethod
    def parse(cls, argv: Sequence[str]) -> JsbConfig:
        """Parse the command line (exits with usage on a bad flag)."""
        return from_namespace(cls, build_parser().parse_args(list(argv)))


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `structserve bench jsonschemabench`."""
    p = argparse.ArgumentParser(
        prog="structserve bench jsonschemabench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base-url", default="http://127.0.0.1:8000", help="Server root URL.")
    p.add_argument("--model", help="Model id (default: the first from GET /v1/models).")
    p.add_argument("--api-key", help="Bearer token, if the server wants one.")
    p.add_argument("--data", type=Path, default=shared_data_dir(), help="Data folder or .tgz.")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="Where the .tgz unpacks.")
    p.add_argument("--subsets", default=",".join(SUBSETS), help="Comma-separated subsets.")
    p.add_argument("--limit", type=int, default=10, help="Schemas per subset (0: all).")
    p.add_argument("--seed", type=int, default=0, help="Seed of the per-subset sample.")
    p.add_argument("--max-tokens", type=int, default=2048, help="max_tokens per request.")
    p.add_argument("--concurrency", type=int, default=1, help="Requests in flight.")
    p.add_argument("--compile-timeout", type=float, default=40.0, help="Seconds to first byte.")
    p.add_argument("--gen-timeout", type=float, default=60.0, help="Seconds for generation.")
    p.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Send json_schema.strict (refuse what cannot be enforced).",
    )
    p.add_argument(
        "--declared-only", action="store_true", help="max_tokens=1: measure acceptance only."
    )
    p.add_argument("--tpot", help="Also compare TPOT, constrained vs not, at these concurrencies.")
    p.add_argument("--tpot-tokens", type=int, default=64, help="Tokens per TPOT request.")
    p.add_argument("--tpot-rounds", type=int, default=4, help="Alternating rounds per level.")
    p.add_argument(
        "--extra-body",
        type=json.loads,
        default={},
        help="JSON object merged into every benchmark request (e.g. an opt-in sampling option "
        "such as '{\"repetition_penalty\": 1.1}'); departs from the paper's protocol.",
    )
    p.add_argument("--out", type=Path, default=Path("results/jsonschemabench"), help="Output dir.")
    return p


def _stream_body(
    model: str, turns: list[dict[str, str]], max_tokens: int, response_format: dict | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": turns,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if response_format is not None:
        body["response_format"] = response_format
    return body


def _body(model: str, case: Case, config: JsbConfig, constrained: bool) -> dict[str, Any]:
    fmt = json_schema_format(case.schema, name="schema", strict=config.strict)
    max_tokens = 1 if config.declared_only else config.max_tokens
    body = _stream_body(model, messages(case.schema), max_tokens, fmt if constrained else None)
    body.update(config.extra_body)
    return body


async def run_one(
    client: httpx.AsyncClient, body: dict[str, Any], config: JsbConfig
) -> dict[str, Any]:
    """Stream one request; returns status, text, finish reason, timings, gateway verdict."""
    rec: dict[str, Any] = {"declared": False, "text": "", "finish_reason": None}
    start = time.perf_counter()
    timeout = httpx.Timeout(config.gen_timeout, connect=10.0, read=config.compile_timeout)
    pieces: list[str] = []
    first = last = None
    chunks = 0
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body, timeout=timeout) as r:
            rec["status"] = r.status_code
            if r.status_code != 200:
                rec["error"] = (await r.aread()).decode(errors="replace")[:500]
                rec["server_error"] = r.status_code >= 500
                return rec
            rec["declared"] = True
            async for line in r.aiter_lines():
                if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                    continue
                chunk = json.loads(line[5:])
                if "error" in chunk:
                    rec["error"] = json.dumps(chunk["error"])[:500]
                if chunk.get("usage"):
                    rec["tokens"] = chunk["usage"].get("completion_tokens")
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        now = time.perf_counter()
                        first = first or now
                        last = now
                        chunks += 1
                        pieces.append(text)
                    if choice.get("finish_reason"):
                        rec["finish_reason"] = choice["finish_reason"]
                    if choice.get("structured_output"):
                        rec["gateway_verdict"] = choice["structured_output"]
                if time.perf_counter() - start > config.gen_timeout:
                    rec["error"] = "generation timeout"
                    break
    except httpx.TimeoutException:
        rec["error"], rec["server_error"] = "timeout", True
    except httpx.HTTPError as exc:
        rec["error"], rec["server_error"] = f"{type(exc).__name__}: {exc}", True
    rec["text"] = "".join(pieces)
    if rec.get("error") and not pieces:
        rec["declared"] = False  # refused after the stream opened (an SSE error event)
    tokens = rec.get("tokens") or chunks
    rec["ttft_s"] = first - start if first else None
    if first and last and tokens and tokens > 1:
        rec["tpot_ms"] = 1000 * (last - first) / (tokens - 1)
    verdict = rec.get("gateway_verdict") or {}
    rec["compile_ms"] = verdict.get("compile_ms")
    return rec


def is_valid(schema: Any, text: str) -> bool:
    """Whether `text` is JSON valid against `schema` (its draft; formats asserted)."""
    try:
        value = json.loads(text)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        return bool(validator.is_valid(value))
    except (ValueError, jsonschema.SchemaError, RecursionError):
        return False


async def run_cases(
    client: httpx.AsyncClient,
    model: str,
    cases: Sequence[Case],
    config: JsbConfig,
    *,
    constrained: bool = True,
    concurrency: int | None = None,
) -> list[dict[str, Any]]:
    """Run all cases with bounded concurrency; one record per case."""
    gate = asyncio.Semaphore(concurrency or config.concurrency)
    done = 0

    async def one(case: Case) -> dict[str, Any]:
        nonlocal done
        async with gate:
            rec = await run_one(client, _body(model, case, config, constrained), config)
        rec.update(subset=case.subset, name=case.name)
        rec["valid"] = rec["declared"] and is_valid(case.schema, rec["text"])
        done += 1
        mark = "ok" if rec["valid"] else ("refused" if not rec["declared"] else "invalid")
        print(f"[{done}/{len(cases)}] {case.subset}/{case.name}: {mark}", file=sys.stderr)
        return rec

    return list(await asyncio.gather(*(one(c) for c in cases)))


# TPOT workload: one prompt, a schema that fixes the output length, against the same prompt
# unconstrained with ignore_eos: both sides decode the same number of tokens per request.
TPOT_SCHEMA = {
    "type": "array",
    "items": {"type": "integer", "minimum": 10, "maximum": 99},
    "minItems": 200,
    "maxItems": 200,
}
TPOT_PROMPT = "List two-digit numbers as a JSON array."


def _tpot_body(model: str, tokens: int, constrained: bool) -> dict[str, Any]:
    turns = [{"role": "user", "content": TPOT_PROMPT}]
    fmt = json_schema_format(TPOT_SCHEMA, name="numbers") if constrained else None
    body = _stream_body(model, turns, tokens, fmt)
    if not constrained:
        body["ignore_eos"] = True
    return body


async def tpot_compare(
    client: httpx.AsyncClient, model: str, config: JsbConfig
) -> list[dict[str, Any]]:
    """Median TPOT constrained vs unconstrained per concurrency, equal output lengths,
    alternating rounds (A B, B A, ...) so drift on a shared machine cancels out."""
    rows = []
    for level in [int(x) for x in (config.tpot or "").split(",") if x]:
        tpots: dict[bool, list[float]] = {False: [], True: []}
        for rnd in range(config.tpot_rounds):
            for constrained in (False, True) if rnd % 2 == 0 else (True, False):
                body = _tpot_body(model, config.tpot_tokens, constrained)
                recs = await asyncio.gather(*(run_one(client, body, config) for _ in range(level)))
                tpots[constrained] += [r["tpot_ms"] for r in recs if r.get("tpot_ms")]
        point: dict[str, Any] = {"concurrency": level}
        point["unconstrained_tpot_ms_p50"] = statistics.median(tpots[False])
        point["constrained_tpot_ms_p50"] = statistics.median(tpots[True])
        point["ratio"] = point["constrained_tpot_ms_p50"] / point["unconstrained_tpot_ms_p50"]
        print(f"TPOT c={level}: {point}", file=sys.stderr)
        rows.append(point)
    return rows


async def _amain(config: JsbConfig) -> dict[str, Any]:
    root = data_root(config.data, config.cache)
    subsets = [s for s in config.subsets.split(",") if s]
    cases = load_cases(root, subsets, config.limit or None, config.seed)
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    async with httpx.AsyncClient(base_url=config.base_url.rstrip("/"), headers=headers) as client:
        model = config.model or resolve_model(config.base_url, config.api_key)
        records = await run_cases(client, model, cases, config)
        tpot = await tpot_compare(client, model, config) if config.tpot else []
    meta = {
        "target": config.base_url,
        "model": model,
        "limit_per_subset": config.limit,
        "max_tokens": 1 if config.declared_only else config.max_tokens,
        "strict": config.strict,
        "concurrency": config.concurrency,
        "seed": config.seed,
        **({"extra_body": config.extra_body} if config.extra_body else {}),
    }
    return {
        "meta": meta,
        "summary": jsb_report.summarize(records),
        "tpot": tpot,
        "records": records,
    }


def write(result: dict[str, Any], out: Path) -> None:
    """result.json, summary.md and coverage.png under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    md = jsb_report.markdown(result["summary"], result["meta"])
    if result["tpot"]:
        md += "\n| concurrency | unconstrained TPOT ms | constrained TPOT ms | ratio |\n"
        md += "|---|---|---|---|\n"
        for row in result["tpot"]:
            md += (
                f"| {row['concurrency']} | {row['unconstrained_tpot_ms_p50']:.1f} "
                f"| {row['constrained_tpot_ms_p50']:.1f} | {row.get('ratio', 0):.3f} |\n"
            )
    (out / "summary.md").write_text(md)
    jsb_report.plot(result["summary"], out / "coverage.png", f"JSONSchemaBench {result['meta']}")
    print(md)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0 (1 when a `stop` output failed validation)."""
    config = JsbConfig.parse(sys.argv[1:] if argv is None else argv)
    result = asyncio.run(_amain(config))
    write(result, config.out)
    bad = sum(s["stop_but_invalid"] for s in result["summary"].values())
    return 1 if bad and not config.declared_only else 0


if __name__ == "__main__":
    sys.exit(main())
