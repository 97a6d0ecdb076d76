"""`structserve bench budget-closing`: what each side's row counts."""

from __future__ import annotations

from bench.budget_closing import _body, _side


def test_a_side_counts_stop_valid_over_budget_and_closed() -> None:
    results = [
        {"text": '{"story":"x","tags":["a","b"],"rating":1}', "tokens": 20, "tpot": 0.02,
         "verdict": {"finish_reason": "stop", "closed_early": True}},
        {"text": '{"story":"x","tags":["a"', "tokens": 64, "tpot": 0.04,
         "verdict": {"finish_reason": "length"}},
        {"text": "{}", "tokens": 65, "tpot": None, "verdict": None},
    ]  # fmt: skip
    assert _side(results, 64) == {
        "tpot_ms": 30.0, "stop": 1, "valid": 1, "over_budget": 1, "closed_early": 1
    }  # fmt: skip


def test_both_sides_send_the_same_request_but_the_flag() -> None:
    with_flag, without = _body("m", 3, 64, True), _body("m", 3, 64, False)
    assert with_flag.pop("close_on_budget") is True and without.pop("close_on_budget") is False
    assert with_flag == without and with_flag["seed"] == 3 and with_flag["max_tokens"] == 64
