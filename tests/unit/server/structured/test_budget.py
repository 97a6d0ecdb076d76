"""close_on_budget at the gateway: who gets it, what is refused (400), what the engine is sent."""

from __future__ import annotations

from typing import Any

import pytest

from budget_close import MARKER_XARG, XARG
from server.errors import InvalidRequest
from server.structured import StructuredPlan
from server.structured.budget import BudgetPolicy, closer_of

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "size": {"type": "integer", "minimum": 100}},
    "required": ["name", "size"],
}  # shortest document {"name":"","size":100}: 22 characters


def _plan(kind: str = "json_schema", spec: Any = SCHEMA) -> StructuredPlan:
    return StructuredPlan(kind=kind, spec=spec, schema=spec)


def _policy(**kwargs: Any) -> BudgetPolicy:
    kwargs.setdefault("count_tokens", lambda: len)  # one token a character
    return BudgetPolicy(**kwargs)


def test_an_explicit_request_is_forwarded_to_the_engine() -> None:
    body: dict[str, Any] = {"close_on_budget": True, "max_tokens": 24, "vllm_xargs": {"a": 1}}
    plan = _plan()
    assert _policy().apply(body, plan)
    assert body == {"max_tokens": 24, "vllm_xargs": {"a": 1, XARG: True}}
    assert plan.check('{"name":"","size":100}', "stop")["close_on_budget"] is True
    json_object: dict[str, Any] = {"close_on_budget": True}
    assert _policy().apply(json_object, _plan("json_object", {"type": "object"}))


@pytest.mark.parametrize(
    ("body", "plan", "policy", "code", "says"),
    [
        ({}, StructuredPlan(kind="grammar", spec='start: "a"'), {}, "unsupported", "regex"),
        ({}, _plan("regex", "(?=a)a"), {}, "unsupported", "does not follow"),  # a lookahead
        ({"max_tokens": 4}, _plan("regex", "[0-9]{4}"), {}, "minimum_document", "at least 5"),
        ({}, None, {}, "unsupported", "JSON schema"),
        ({"ignore_eos": True}, _plan(), {}, "unsupported", "ignore_eos"),
        ({}, _plan(), {"refusal": "it speculates"}, "unsupported", "it speculates"),
        ({}, _plan(spec={"type": "string", "enum": []}), {}, "unsupported", "shortest"),
        ({"max_tokens": 22}, _plan(), {}, "budget_below_minimum_document", "at least 23"),
    ],
)
def test_what_cannot_be_closed_is_a_400(
    body: dict[str, Any], plan: StructuredPlan | None, policy: dict[str, Any], code: str, says: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _policy(**policy).apply({**body, "close_on_budget": True}, plan)
    assert caught.value.code.endswith(code) and says in caught.value.message


def test_the_server_default_applies_only_where_it_can() -> None:
    policy = _policy(default=True)
    fits: dict[str, Any] = {"max_tokens": 23}
    assert policy.apply(fits, _plan()) and fits["vllm_xargs"] == {XARG: True}
    for body, plan in (
        ({"max_tokens": 22}, _plan()),  # too small a budget: cut as before, no 400
        ({"ignore_eos": True}, _plan()),
        ({}, StructuredPlan(kind="grammar", spec='start: "a"')),
        ({}, _plan("regex", "(?=a)a")),  # a pattern it cannot follow: skipped, no 400
        ({}, None),
        ({"close_on_budget": False}, _plan()),  # the request says no
    ):
        assert not policy.apply(body, plan) and "vllm_xargs" not in body
        assert plan is None or "close_on_budget" not in plan.check("{}", "stop")
    assert not _policy(default=True, refusal="speculates").apply({}, _plan())


def test_without_a_tokenizer_the_budget_is_left_to_the_engine() -> None:
    body: dict[str, Any] = {"close_on_budget": True, "max_tokens": 2}
    assert _policy(count_tokens=lambda: None).apply(body, _plan())


async def test_a_marker_stop_reason_is_reported_as_closed_early() -> None:
    body: dict[str, Any] = {"close_on_budget": True, "max_tokens": 40, "stop_token_ids": [7]}
    plan = _plan()
    assert _policy(marker=lambda: 0).apply(body, plan)
    assert body["stop_token_ids"] == [7, 0] and body["vllm_xargs"] == {XARG: True, MARKER_XARG: 0}
    closed = {"index": 0, "finish_reason": "stop", "stop_reason": 0}
    verdict = await plan.aannotate(closed, '{"name":"ab","size":100}')
    assert closed["stop_reason"] is None  # the marker is the gateway's, not the client's
    # the engine closed after '{"name":"ab': the rest is the shortest valid end of that prefix
    assert verdict["valid"] and verdict["closed_early"] is True
    assert verdict["closing_tokens"] == len('","size":100}')  # one token a character here
    natural = {"index": 0, "finish_reason": "stop", "stop_reason": None}
    verdict = await plan.aannotate(natural, '{"name":"ab","size":100}')
    assert verdict["closed_early"] is False and "closing_tokens" not in verdict


def test_without_a_marker_closed_early_is_not_claimed() -> None:
    plan = _plan()
    assert _policy(marker=lambda: None).apply({"close_on_budget": True}, plan)
    assert plan.closing is None and "closed_early" not in plan.check("{}", "stop")


def test_requests_with_the_same_schema_share_one_closer() -> None:
    reordered = dict(reversed(list(SCHEMA.items())))
    assert closer_of("json_schema", SCHEMA) is closer_of("json_schema", reordered)
    assert closer_of("json_schema", SCHEMA) is not closer_of("json_object", {"type": "object"})
    assert closer_of("regex", "a+") is closer_of("regex", "a+")


async def test_a_regex_is_closed_and_reported_like_a_schema() -> None:
    body: dict[str, Any] = {"close_on_budget": True, "max_tokens": 12}
    plan = _plan("regex", r"[a-z ]+\.")
    assert _policy(marker=lambda: 0).apply(body, plan)
    assert body["vllm_xargs"] == {XARG: True, MARKER_XARG: 0} and body["stop_token_ids"] == [0]
    closed = {"index": 0, "finish_reason": "stop", "stop_reason": 0}
    verdict = await plan.aannotate(closed, "once upon a time.")
    assert verdict["closed_early"] is True  # (`valid` needs the server's grammar checker)
    assert verdict["closing_tokens"] == 1  # "." (one token a character here)
