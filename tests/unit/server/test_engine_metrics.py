"""Engine metrics re-exported by the gateway: relabelled, and derived spec-decode ratios."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from server.engine_metrics import derived_spec_metrics, relabel_engine_metrics

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


def test_relabel_engine_metrics_round_trips() -> None:
    text = (
        "# HELP vllm:generation_tokens_total Tokens.\n# TYPE vllm:generation_tokens_total counter\n"
        'vllm:generation_tokens_total{model_name="m"} 7.0\n'
        "# HELP vllm:ttft Time.\n# TYPE vllm:ttft histogram\n"
        'vllm:ttft_bucket{le="0.1",model_name="m"} 1.0\n'
        'vllm:ttft_bucket{le="+Inf",model_name="m"} 2.0\n'
        'vllm:ttft_count{model_name="m"} 2.0\nvllm:ttft_sum{model_name="m"} 0.5\n'
    )
    out = relabel_engine_metrics(text, "http://e:1")
    families = {f.name: f for f in text_string_to_metric_families(out)}
    sample = families["vllm:generation_tokens"].samples[0]
    assert sample.labels == {"model_name": "m", "engine": "http://e:1"} and sample.value == 7.0
    assert len(families["vllm:ttft"].samples) == 4
