"""The budget-closing processor as vLLM loads it: both runners accept the entry point, and the
frontend refuses the flag where it cannot work (400 at admission)."""

from __future__ import annotations

import pytest
from vllm import SamplingParams
from vllm.exceptions import VLLMValidationError
from vllm.sampling_params import StructuredOutputsParams

from budget_close import XARG
from budget_close.vllm_processor import BudgetCloseLogitsProcessor


def test_both_runners_load_the_entry_point() -> None:
    from vllm.v1.sample.logits_processor import _load_logitsprocs_plugins
    from vllm.v1.worker.gpu.sample.logits_processor.loader import (
        _load_v2_logitsprocs_plugins,
        build_custom_logits_processors_params_validator,
    )

    assert BudgetCloseLogitsProcessor in _load_logitsprocs_plugins()
    assert BudgetCloseLogitsProcessor in _load_v2_logitsprocs_plugins()
    validate = build_custom_logits_processors_params_validator(())
    with pytest.raises(VLLMValidationError, match=XARG):
        validate(SamplingParams(max_tokens=8, extra_args={XARG: True}))  # no JSON schema
    schema = StructuredOutputsParams(json={"type": "object"})
    validate(SamplingParams(max_tokens=8, extra_args={XARG: True}, structured_outputs=schema))
    validate(SamplingParams(max_tokens=8))  # without the flag: nothing to check
