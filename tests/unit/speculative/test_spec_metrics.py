"""Derived speculative-decoding metrics from vLLM's counters."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from server.spec_metrics import derived_spec_metrics

ENGINE_TEXT = """\
# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total{engine="0",model_name="m"} 100.0
# HELP vllm:spec_decode_num_draft_tokens_total Number of draft tokens.
# TYPE vllm:spec_decode_num_draft_tokens_total counter
vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="m"} 300.0
# HELP vllm:spec_decode_num_accepted_tokens_total Number of accepted tokens.
# TYPE vllm:spec_decode_num_accepted_tokens_total counter
vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 150.0
# HELP vllm:spec_decode_num_accepted_tokens_per_pos_total Accepted tokens per draft position.
# TYPE vllm:spec_decode_num_accepted_tokens_per_pos_total counter
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="0"} 80.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="1"} 45.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="2"} 25.0
"""


def _samples(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, s.labels.get("position", ""))] = s.value
    return out


def test_derived_values() -> None:
    text = derived_spec_metrics(ENGINE_TEXT, "http://e:1")
    got = _samples(text)
    assert got[("structserve_spec_decode_acceptance_rate", "")] == 0.5
    assert got[("structserve_spec_decode_mean_accepted_length", "")] == 2.5
    assert got[("structserve_spec_decode_position_acceptance_rate", "0")] == 0.8
    assert got[("structserve_spec_decode_position_acceptance_rate", "2")] == 0.25
    assert got[("structserve_spec_decode_drafted_tokens", "")] == 300
    assert got[("structserve_spec_decode_accepted_tokens", "")] == 150
    assert 'engine="http://e:1"' in text


def test_no_speculation_no_metrics() -> None:
    assert derived_spec_metrics("# TYPE vllm:x counter\nvllm:x_total 1.0\n", "e") == ""


def test_zero_drafts_do_not_divide_by_zero() -> None:
    text = ENGINE_TEXT.replace(" 100.0", " 0.0").replace(" 300.0", " 0.0")
    got = _samples(derived_spec_metrics(text, "e"))
    assert got[("structserve_spec_decode_acceptance_rate", "")] == 0
