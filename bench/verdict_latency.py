"""`structserve bench verdict-latency`: does a heavy structured-output verdict delay other requests?

The gateway runs in-process over a fake engine that answers instantly, so every millisecond a
plain request takes is the gateway's event loop. Phase 1 sends plain requests alone; phase 2 sends
the same plain requests while heavy requests keep arriving: a 64 KB Lark grammar whose long
(right-recursive) output the gateway must check. Reported: the plain requests' latency in both
phases and the added latency (p50/p99/max); the target is at most 50 ms.

    structserve bench verdict-latency --seconds 5 --out verdict_latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request

MODEL = "fake-model"


def heavy_grammar(target_bytes: int = 64 * 1024) -> tuple[str, list[str]]:
    """A right-recursive Lark grammar of about `target_bytes` over words `w00000`…; its words."""
    words: list[str] = []
    head = 'start: seq\nseq: WORD " " seq | WORD " "\nWORD: '
    size = len(head)
    while size < target_bytes:
        words.append(f"w{len(words):05d}")
        size += len(words[-1]) + 5
    return head + " | ".join(f'"{w}"' for w in words) + "\n", words


def heavy_output(words: list[str], count: int) -> str:
    """A sentence of the heavy grammar: `count` words, each followed by a blank."""
    return "".join(words[(i * 37) % len(words)] + " " for i in range(count))


def fake_engine(heavy_text: str) -> FastAPI:
    """An engine that answers at once: the heavy text to grammar requests, "ok" otherwise."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "max_model_len": 4096}]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> dict[str, Any]:
        body = await request.json()
        text = heavy_text if body.get("structured_outputs") else "ok"
        choice = {"index": 0, "text": text, "finish_reason": "stop"}
        return {"id": "x", "object": "text_completion", "model": MODEL, "choices": [choice]}

    return app


@asynccontextmanager
async def gateway(heavy_text: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client to an in-process gateway (lifespan running) over the fake engine."""
    from server.app import build_app
    from server.engines import EnginePool
    from server.settings import Settings

    transport = httpx.ASGITransport(app=fake_engine(heavy_text))
    pool = EnginePool(["http://engine"], client=httpx.AsyncClient(transport=transport))
    app = build_app(Settings(health_interval_s=0.5), pool)
    async with app.router.lifespan_context(app):
        await pool.probe_due()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=120
        ) as client:
            yield client


async def _plain(client: httpx.AsyncClient, seconds: float, every_s: float) -> list[float]:
    """Open loop: request i is due at start + i * every_s and its latency counts from then, so
    time the event loop spends blocked (sending late) is counted too."""
    body = {"model": MODEL, "prompt": "hi", "max_tokens": 2}
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(due: float) -> float:
        response = await client.post("/v1/completions", json=body)
        response.raise_for_status()
        return loop.time() - due

    tasks = []
    for i in range(int(seconds / every_s)):
        due = start + i * every_s
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(one(due)))
    return list(await asyncio.gather(*tasks))


async def _heavy(client: httpx.AsyncClient, grammar: str, stop: asyncio.Event) -> list[Any]:
    body = {"model": MODEL, "prompt": "go", "structured_outputs": {"grammar": grammar}}
    verdicts: list[Any] = []
    while not stop.is_set():
        start = time.perf_counter()
        response = await client.post("/v1/completions", json=body)
        verdict = response.json()["choices"][0].get("structured_output", {})
        verdicts.append(
            {
                "seconds": round(time.perf_counter() - start, 3),
                "valid": verdict.get("valid"),
                "reason": verdict.get("reason"),
            }
        )
    return verdicts


def _summary(latencies: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(ms[-1], 2),
    }


async def run(seconds: float, every_s: float, words: int) -> dict[str, Any]:
    """Both phases; returns the plain requests' latency alone, under load, and the difference."""
    grammar, vocab = heavy_grammar()
    async with gateway(heavy_output(vocab, words)) as client:
        await _plain(client, 0.5, every_s)  # warm-up
        alone = _summary(await _plain(client, seconds, every_s))
        stop = asyncio.Event()
        heavy = asyncio.create_task(_heavy(client, grammar, stop))
        await asyncio.sleep(0.2)  # the first heavy request is being checked
        loaded = _summary(await _plain(client, seconds, every_s))
        stop.set()
        verdicts = await heavy
    added = {k: round(loaded[k] - alone[k], 2) for k in ("p50_ms", "p99_ms", "max_ms")}
    return {
        "grammar_bytes": len(grammar),
        "output_bytes": len(heavy_output(vocab, words)),
        "plain_alone": alone,
        "plain_with_heavy_verdicts": loaded,
        "added_ms": added,
        "heavy_requests": verdicts,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the benchmark, print (and optionally write) the JSON report."""
    parser = argparse.ArgumentParser(prog="structserve bench verdict-latency", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--every-ms", type=float, default=10.0, help="pause between plain requests")
    parser.add_argument("--words", type=int, default=1800, help="words in the heavy output")
    parser.add_argument("--out", help="also write the report to this JSON file")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.seconds, args.every_ms / 1000, args.words))
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
