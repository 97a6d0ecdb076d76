"""`structserve bench budget-closing`: budget closing served end to end (issue 19), against a
gateway.

Alternate rounds of `--concurrency` streamed chat requests for one JSON schema whose answers
outrun `--tokens` (a long story, tags, a rating; temperature 1, a seed each) with
`close_on_budget` and the same requests without it, on the same engine under the same load.
TPOT of a request = (finish chunk - first text chunk) / (completion tokens - 1); the table gives
medians and the ratio with / without, and counts, per side, outputs that end with `stop`, that
parse and validate, that exceed the budget, and that the verdict says were closed early.

    structserve bench budget-closing --url http://127.0.0.1:8000 --concurrency 1 4 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from typing import Any

import httpx
import jsonschema

from bench.choice_sets_serving import stream_request

SCHEMA = {
    "type": "object",
    "properties": {
        "story": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "rating": {"type": "integer"},
    },
    "required": ["story", "tags", "rating"],
    "additionalProperties": False,
}
PROMPTS = ("a dragon", "a lighthouse keeper", "a lost robot", "two rival bakers")


def _body(model: str, index: int, tokens: int, close: bool) -> dict[str, Any]:
    topic = PROMPTS[index % len(PROMPTS)]
    return {
        "model": model,
        "messages": [{"role": "user", "content": f"Write a long story about {topic}, as JSON."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}},
        "max_tokens": tokens,
        "temperature": 1.0,
        "seed": index,
        "stream": True,
        "stream_options": {"include_usage": True},
        "close_on_budget": close,
    }


def _valid(text: str) -> bool:
    try:
        jsonschema.validate(json.loads(text), SCHEMA)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def _side(results: list[dict[str, Any]], tokens: int) -> dict[str, Any]:
    tpots = [r["tpot"] for r in results if r["tpot"] is not None]
    return {
        "tpot_ms": round(statistics.median(tpots) * 1e3, 3) if tpots else None,
        "stop": sum(1 for r in results if (r["verdict"] or {}).get("finish_reason") == "stop"),
        "valid": sum(1 for r in results if _valid(r["text"])),
        "over_budget": sum(1 for r in results if r["tokens"] > tokens),
        "closed_early": sum(1 for r in results if (r["verdict"] or {}).get("closed_early")),
    }


async def measure(
    client: httpx.AsyncClient, model: str, concurrency: int, rounds: int, tokens: int
) -> dict[str, Any]:
    """Both sides at one concurrency, rounds alternating."""
    sides: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for r in range(rounds):
        for close in (True, False):
            bodies = [_body(model, r * concurrency + i, tokens, close) for i in range(concurrency)]
            sides[close] += await asyncio.gather(*(stream_request(client, b) for b in bodies))
    closed, plain = _side(sides[True], tokens), _side(sides[False], tokens)
    ratio = (
        round(closed["tpot_ms"] / plain["tpot_ms"], 3)
        if closed["tpot_ms"] and plain["tpot_ms"]
        else None
    )
    return {
        "concurrency": concurrency,
        "requests": len(sides[True]),
        "tokens": tokens,
        "with": closed,
        "without": plain,
        "tpot_ratio": ratio,
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per concurrency."""
    rows = []
    async with httpx.AsyncClient(base_url=args.url, timeout=900) as client:
        for concurrency in args.concurrency:
            row = await measure(client, args.model, concurrency, args.rounds, args.tokens)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one JSON row per concurrency."""
    parser = argparse.ArgumentParser(prog="structserve bench budget-closing", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each side per point")
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens (the budget)")
    args = parser.parse_args(argv)
    asyncio.run(run(args))
    return 0
