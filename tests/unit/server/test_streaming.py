"""The SSE relay's observer: streamed choices reassembled per index and checked when they finish."""

from __future__ import annotations

import json

from server.streaming import StreamObserver
from server.structured import StructuredPlan


def _chunk(index: int, text: str, finish: str | None = None) -> str:
    return json.dumps({"choices": [{"index": index, "text": text, "finish_reason": finish}]})


async def test_stream_reassembles_per_choice() -> None:
    plan = StructuredPlan(
        kind="json_schema", strict=True, schema={"type": "object", "required": ["a"]}
    )
    observer = StreamObserver(started=0.0, on_ttft=lambda _: None, on_itl=lambda _: None, plan=plan)
    for piece in ['{"a"', ":"]:
        await observer.observe(_chunk(0, piece))
    await observer.observe(_chunk(1, '{"b":2}'))
    first = json.loads(await observer.observe(_chunk(0, "1}", "stop")))["choices"][0]
    second = json.loads(await observer.observe(_chunk(1, "", "stop")))["choices"][0]
    assert first["structured_output"]["valid"] is True and first["finish_reason"] == "stop"
    assert second["finish_reason"] == "schema_violation"


async def test_a_heavy_verdict_does_not_hold_other_streams(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """A stream whose final chunk waits for a slow grammar verdict (the deadline passes) while a
    plain request on the same gateway answers at once; main matched on the event loop."""
    import asyncio

    from tests.unit.server.scripted_engine import make_scripted_engine

    def outputs(body: dict, index: int) -> str:  # type: ignore[type-arg]
        return "x" * 400 if body.get("structured_outputs") else "ok"

    engine = make_scripted_engine(outputs)
    gw, _, _ = await make_gateway({"engine-a": engine}, structured_verdict_timeout_s=1.0)
    heavy_body = {
        "model": "fake-model",
        "prompt": "go",
        "stream": True,
        "structured_outputs": {"grammar": 'start: s\ns: s s | "x"\n'},  # ambiguous: seconds
    }
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    async def plain_requests(stop: asyncio.Event) -> None:
        """Open loop: one plain request due every 50 ms, its latency counted from when due."""
        due = loop.time()
        while not stop.is_set():
            due += 0.05
            await asyncio.sleep(max(0.0, due - loop.time()))
            r = await gw.post("/v1/completions", json={"model": "fake-model", "prompt": "hi"})
            assert r.status_code == 200
            latencies.append(loop.time() - due)

    stop = asyncio.Event()
    plain = asyncio.create_task(plain_requests(stop))
    heavy_text = (await gw.post("/v1/completions", json=heavy_body)).text
    stop.set()
    await plain
    assert len(latencies) >= 10 and max(latencies) < 0.5, latencies
    final = [json.loads(x[6:]) for x in heavy_text.splitlines() if x.startswith("data: {")][-1]
    verdict = final["choices"][0]["structured_output"]
    assert verdict["reason"] == "unchecked: deadline of 1 s passed"
    assert final["choices"][0]["finish_reason"] == "stop"
