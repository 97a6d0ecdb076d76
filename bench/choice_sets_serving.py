"""`structserve bench choice-sets`: choice sets served end to end (issue 18), against a gateway.

Per set size (synthetic catalog IDs, `bench.choice_trie.catalog_ids`): register the set through
`POST /v1/choice_sets` (a text upload; the time includes tokenizing, building and storing), then
alternate rounds of `--concurrency` streamed chat requests constrained to the set (temperature 1,
varied prompts) and the same number unconstrained, on the same engine under the same load. Both
run `max_tokens` = `--tokens` with `ignore_eos` (longer than any item: a finished item allows only
the end token, which the text leaves out), so both decode the same number of steps and the batch
does not shrink earlier on one side. TPOT of a request = (finish chunk - first text chunk)
/ (completion tokens - 1); the table gives medians and the ratio constrained / unconstrained, and
counts constrained outputs that are not items (the exactness check) and verdicts not valid;
`--exactness N` first sends N constrained requests per size (`--exactness-concurrency` at a
time, each with its own random prompt and seed, one in four greedy, natural length) and counts
the same.

    structserve bench choice-sets --url http://127.0.0.1:8000 --sizes 10000 100000 1000000 \
        --concurrency 1 16 --rounds 6 --out results/choice_sets_serving.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.choice_trie import catalog_ids

BATCH = 16
PROMPTS = ("Give a part number.", "Which item fits a pump?", "Name one SKU.", "Pick a part ID.")
_TEMPLATES = (
    "Give the part number for a {words}, batch {n}.",
    "Order {n}: which catalog ID matches the {words}?",
    "Customer {i} needs a {words}. Reply with one SKU.",
    "Pick the item code for {n} units of {words}.",
    "Which reference fits the {words} in ticket {i}?",
)
_WORDS = ("pump", "valve", "hose", "seal", "steel", "garden", "spare", "brass", "filter", "blue")


async def stream_request(
    client: httpx.AsyncClient, body: dict[str, Any], route: str = "/v1/chat/completions"
) -> dict[str, Any]:
    """One streamed chat (or completions) request: text, token count, TPOT, verdict."""
    stamps: list[float] = []
    text, usage, verdict = "", None, None
    async with client.stream("POST", route, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices", []):
                delta = (choice.get("delta") or {}).get("content") or choice.get("text")
                if delta or (stamps and choice.get("finish_reason")):  # the end: last token
                    stamps.append(time.perf_counter())
                    text += delta or ""
                verdict = choice.get("structured_output") or verdict
    tokens = int((usage or {}).get("completion_tokens", len(stamps)))
    tpot = (stamps[-1] - stamps[0]) / (tokens - 1) if len(stamps) > 1 and tokens > 1 else None
    return {"text": text, "tokens": tokens, "tpot": tpot, "verdict": verdict}


def _body(model: str, index: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPTS[index % len(PROMPTS)]}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 1.0,
        "seed": index,
        **extra,
    }


async def _round(
    client: httpx.AsyncClient, model: str, extra: dict[str, Any], concurrency: int, start: int
) -> list[dict[str, Any]]:
    bodies = [_body(model, start + i, extra) for i in range(concurrency)]
    return list(await asyncio.gather(*(stream_request(client, b) for b in bodies)))


def _median_ms(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(statistics.median(kept) * 1e3, 3) if kept else None


async def measure(
    client: httpx.AsyncClient,
    model: str,
    name: str,
    members: set[str],
    concurrency: int,
    rounds: int,
    tokens: int,
) -> dict[str, Any]:
    """TPOT constrained vs unconstrained at one concurrency, plus exactness."""
    constrained: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    free = {"max_tokens": tokens, "ignore_eos": True}
    for r in range(rounds):
        index = r * concurrency
        extra = {"structured_outputs": {"choice_set": name}, **free}
        constrained += await _round(client, model, extra, concurrency, index)
        plain += await _round(client, model, free, concurrency, index)
    tpot_c = _median_ms([x["tpot"] for x in constrained])
    tpot_u = _median_ms([x["tpot"] for x in plain])
    return {
        "concurrency": concurrency,
        "requests": len(constrained),
        "tpot_ms_constrained": tpot_c,
        "tpot_ms_unconstrained": tpot_u,
        "tpot_ratio": round(tpot_c / tpot_u, 3) if tpot_c and tpot_u else None,
        "median_tokens_constrained": statistics.median(x["tokens"] for x in constrained),
        "not_members": sum(1 for x in constrained if x["text"] not in members),
        "verdicts_not_valid": sum(1 for x in constrained if not (x["verdict"] or {}).get("valid")),
    }


def random_prompt(index: int) -> str:
    """A distinct user prompt per index (seeded by it): a template with random words and numbers."""
    rng = random.Random(index)
    words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 4))]
    template = rng.choice(_TEMPLATES)
    return template.format(words=" ".join(words), n=rng.randint(1, 99_999), i=index)


async def exactness(
    client: httpx.AsyncClient,
    model: str,
    name: str,
    members: set[str],
    requests: int,
    concurrency: int = BATCH,
    start: int = 0,
) -> dict[str, Any]:
    """`requests` constrained completions, `concurrency` in flight, each with its own random prompt
    and seed (indices `start`, `start` + 1, ...: runs with disjoint ranges add up), one in four
    greedy: how many outputs are not items, how many verdicts not valid.
    The completions route (no chat template: a ~20-token prompt) keeps prefill small, so this
    host runs thousands of them; the chat route runs the same processor (`measure`)."""
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(index: int) -> tuple[bool, dict[str, Any]]:
        greedy = index % 4 == 0
        body = _body(model, index, {"structured_outputs": {"choice_set": name}, "max_tokens": 64})
        del body["messages"]
        body |= {"prompt": random_prompt(index) + "\nPart number:"}
        body |= {"temperature": 0.0} if greedy else {}
        async with gate:
            return greedy, await stream_request(client, body, "/v1/completions")

    results = await asyncio.gather(*(one(i) for i in range(start, start + requests)))
    outside = [x for _, x in results if x["text"] not in members]
    return {
        "exactness_requests": len(results),
        "first_prompt": start,
        "greedy": sum(1 for greedy, _ in results if greedy),
        "not_members": len(outside),
        "not_members_greedy": sum(1 for g, x in results if g and x["text"] not in members),
        "verdicts_not_valid": sum(1 for _, x in results if not (x["verdict"] or {}).get("valid")),
        "distinct_outputs": len({x["text"] for _, x in results}),
        "seconds": round(time.perf_counter() - started, 1),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every size and concurrency; one row each."""
    rows = []
    async with httpx.AsyncClient(base_url=args.url, timeout=600) as client:
        for size in args.sizes:
            items = catalog_ids(size)
            name = f"bench-{size}"
            await client.delete(f"/v1/choice_sets/{name}")
            start = time.perf_counter()
            response = await client.post(
                "/v1/choice_sets",
                params={"name": name},
                content="\n".join(items).encode(),
                headers={"content-type": "text/plain"},
            )
            response.raise_for_status()
            register_s = round(time.perf_counter() - start, 3)
            members = set(items)
            if not args.exactness and not args.concurrency:
                rows.append({"size": size, "register_s": register_s})
                print(json.dumps(rows[-1]), flush=True)
            if args.exactness:
                row = {"size": size, "register_s": register_s}
                row |= await exactness(
                    client,
                    args.model,
                    name,
                    members,
                    args.exactness,
                    args.exactness_concurrency,
                    args.exactness_start,
                )
                print(json.dumps(row), flush=True)
                rows.append(row)
            for concurrency in args.concurrency:
                row = {"size": size, "register_s": register_s}
                row |= await measure(
                    client, args.model, name, members, concurrency, args.rounds, args.tokens
                )
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one JSON row per (size, concurrency) on stdout, all rows to --out."""
    parser = argparse.ArgumentParser(prog="structserve bench choice-sets", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="*",
        default=[1, 16],
        help="TPOT points (none: only registration and --exactness)",
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each kind per point")
    parser.add_argument("--tokens", type=int, default=11, help="decode steps per request")
    parser.add_argument(
        "--exactness", type=int, default=0, help="extra constrained requests per size"
    )
    parser.add_argument(
        "--exactness-concurrency", type=int, default=BATCH, help="their requests in flight"
    )
    parser.add_argument(
        "--exactness-start", type=int, default=0, help="first prompt index (disjoint runs)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = asyncio.run(run(args))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0
