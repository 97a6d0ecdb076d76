"""Property-based fuzzing of the gateway from its own OpenAPI document (schemathesis, in-process).

Every operation gets schema-conforming (positive) and schema-violating (negative) requests; half
of the positive bodies name the fake engine's model so they reach the engine path. The promise:
no 5xx, and every 4xx is OpenAI error JSON.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from starlette.testclient import TestClient

from tests.unit.server.inprocess import check_error_answer, gateway_client

BODY_EXAMPLES = 150  # per generation route and mode
OTHER_EXAMPLES = 15  # per GET route (few parameters to vary)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """A gateway over one fake engine, its lifespan running."""
    with gateway_client() as tc:
        yield tc


def _request_kwargs(case: Any, base_url: str) -> dict[str, Any]:
    kwargs = dict(case.as_transport_kwargs(base_url=base_url))
    cookies = kwargs.pop("cookies", None)
    if cookies:
        kwargs.setdefault("headers", {})["cookie"] = "; ".join(
            f"{k}={v}" for k, v in cookies.items()
        )
    if "data" in kwargs:  # raw (non-JSON) bodies of negative cases
        kwargs["content"] = kwargs.pop("data")
    return kwargs


def _fuzz_operation(tc: TestClient, operation: Any, mode: GenerationMode, seen: Counter) -> None:
    examples = BODY_EXAMPLES if operation.method == "post" else OTHER_EXAMPLES

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # same cases every run: CI failures reproduce
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), known_model=st.booleans())
    def run(case: Any, known_model: bool) -> None:
        if known_model and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = "fake-model"
        response = tc.request(**_request_kwargs(case, str(tc.base_url)))
        seen[(operation.path, mode.value, response.status_code)] += 1
        check_error_answer(response)

    try:
        run()
    except Unsatisfiable:  # no parameters to violate: no negative case exists
        assert mode is GenerationMode.NEGATIVE


def test_schemathesis_finds_no_5xx(client: TestClient) -> None:
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/chat/completions", "/v1/completions"}
    seen: Counter = Counter()
    started = time.perf_counter()
    for operation in operations:
        for mode in GenerationMode:
            _fuzz_operation(client, operation, mode, seen)
    by_status = Counter()
    for (_, _, status), count in seen.items():
        by_status[status] += count
    print(
        f"\nschemathesis: {sum(seen.values())} requests over {len(operations)} operations in "
        f"{time.perf_counter() - started:.1f} s; by status {dict(sorted(by_status.items()))}"
    )
    assert by_status[200] > 0 and by_status[400] > 0  # both the engine path and refusals ran
