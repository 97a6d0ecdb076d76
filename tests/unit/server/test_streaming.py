"""The SSE relay's observer: streamed choices reassembled per index and checked when they finish."""

from __future__ import annotations

import json

from server.streaming import StreamObserver
from server.structured import StructuredPlan


def _chunk(index: int, text: str, finish: str | None = None) -> str:
    return json.dumps({"choices": [{"index": index, "text": text, "finish_reason": finish}]})


def test_stream_reassembles_per_choice() -> None:
    plan = StructuredPlan(
        kind="json_schema", strict=True, schema={"type": "object", "required": ["a"]}
    )
    observer = StreamObserver(started=0.0, on_ttft=lambda _: None, on_itl=lambda _: None, plan=plan)
    for piece in ['{"a"', ":"]:
        observer.observe(_chunk(0, piece))
    observer.observe(_chunk(1, '{"b":2}'))
    first = json.loads(observer.observe(_chunk(0, "1}", "stop")))["choices"][0]
    second = json.loads(observer.observe(_chunk(1, "", "stop")))["choices"][0]
    assert first["structured_output"]["valid"] is True and first["finish_reason"] == "stop"
    assert second["finish_reason"] == "schema_violation"
