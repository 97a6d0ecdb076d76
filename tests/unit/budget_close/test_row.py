"""Budget closing over simulated decoding, through the real logits processor (vLLM's V1
interface): random logits, the engine's grammar mask (llguidance over the real tokenizer) applied
first as vLLM does, then the processor, then sampling.

Property (issue 19): for schemas of the dev split and budgets between the minimum document and
twice it, the output never exceeds the budget, every forced token is one the grammar allows (the
two masks agree: a row the grammar refused would be left with -inf everywhere), and every output
that ends validates against the schema.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from llguidance import LLMatcher, LLTokenizer
from vllm import SamplingParams
from vllm.sampling_params import StructuredOutputsParams
from vllm.v1.sample.logits_processor import BatchUpdate

from bench.jsb_data import SUBSETS, data_root, load_cases
from budget_close import MARKER_XARG, XARG
from budget_close.closer import Closer
from budget_close.row import BudgetRow
from budget_close.token_text import TextFeed, TokenText
from budget_close.verify import Judge
from budget_close.vllm_processor import BudgetCloseLogitsProcessor
from compress.shared_data import shared_data_dir
from grammar.llg import ByteGrammar, serialize
from tests.prereq import default_model_dir
from tests.unit.budget_close.conftest import compiling

PER_SUBSET = 5
BUDGETS = 3
V = 49152


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: the simulated steps are tiny, and waking a thread pool for each
    [1, V] op costs more than the op (9 ms an isfinite on a loaded 2-core host)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def engine_tokenizer(token_text: TokenText) -> LLTokenizer:
    text = (default_model_dir() / "tokenizer.json").read_text()
    return LLTokenizer(text, eos_token=token_text.end_token)


@pytest.fixture(scope="module")
def processor() -> BudgetCloseLogitsProcessor:
    config = SimpleNamespace(model_config=SimpleNamespace(tokenizer=str(default_model_dir())))
    return BudgetCloseLogitsProcessor(config, torch.device("cpu"), False)  # type: ignore[arg-type]


def _grammar_mask(matcher: LLMatcher, end: int) -> torch.Tensor:
    """[V] bool: what the engine's grammar allows next (only EOS once the document is done)."""
    if matcher.is_stopped():
        allowed = torch.zeros(V, dtype=torch.bool)
        allowed[end] = True
        return allowed
    bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), np.uint8), bitorder="little")
    return torch.from_numpy(bits[:V].astype(bool))


def _run(
    proc: BudgetCloseLogitsProcessor,
    schema: Any,
    budget: int,
    tok: LLTokenizer,
    end: int,
    gen: torch.Generator,
    marker: int | None = None,
    kind: str = "json",
) -> tuple[list[int], BudgetRow]:
    """Decode up to `budget` tokens as the engine would; returns the output and its row. A
    `marker` (the request's stop token) ends the output too; the grammar accepts any token once
    stopped, as vLLM's guidance backend does."""
    params = SamplingParams(
        max_tokens=budget,
        extra_args={XARG: True, **({MARKER_XARG: marker} if marker is not None else {})},
        structured_outputs=StructuredOutputsParams(**{kind: schema}),
    )
    output: list[int] = []
    proc.update_state(
        BatchUpdate(batch_size=1, removed=[], added=[(0, params, None, output)], moved=[])
    )
    row = proc.rows[0]
    matcher = LLMatcher(tok, serialize(kind, schema), log_level=0)
    while len(output) < budget and not (output and output[-1] in (end, marker)):
        logits = torch.randn(1, V, generator=gen)  # [1, V]
        logits[0, ~_grammar_mask(matcher, end)] = float("-inf")  # vLLM: grammar first
        logits = proc.apply(logits)
        assert bool(logits[0].isfinite().any()), "no token left to sample"
        token = int(torch.multinomial(logits[0].softmax(-1), 1, generator=gen))
        assert token == end or matcher.is_stopped() or matcher.consume_token(token)
        output.append(token)
    proc.update_state(BatchUpdate(batch_size=0, removed=[0], added=[], moved=[]))
    return output, row


def _text(output: list[int], text: TokenText) -> str:
    feed = TextFeed()
    for token in output:
        feed.add(text.token_bytes(token))
    return feed.joined()


def test_a_small_schema_closes_in_budget(
    processor: BudgetCloseLogitsProcessor, engine_tokenizer: LLTokenizer, token_text: TokenText
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "tags"],
        "additionalProperties": False,
    }
    end = token_text.end_token
    closed = 0
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        output, row = _run(processor, schema, 24, engine_tokenizer, end, gen)
        assert len(output) <= 24
        assert not row.given_up, _text(output, token_text)
        assert output[-1] == end
        assert Judge(schema).accepts(_text(output, token_text))
        closed += row.forced is not None
    assert closed >= 15  # random text rarely ends on its own within 24 tokens


@pytest.mark.parametrize(
    ("schema", "budget", "eos_closings"),
    [
        ({"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}, 12, 0),
        ({"type": "array", "items": {"type": "string"}, "minItems": 2}, 12, 0),
        ({"type": "integer"}, 3, 1),  # "5" may go on ("55"): its closing "" ends with EOS
    ],
)
def test_a_closing_ends_with_the_marker_where_the_grammar_stops(
    processor: BudgetCloseLogitsProcessor,
    engine_tokenizer: LLTokenizer,
    token_text: TokenText,
    schema: Any,
    budget: int,
    eos_closings: int,
) -> None:
    marker, end = 0, token_text.end_token  # <|endoftext|>, a special token that is not EOS
    closed = with_eos = 0
    for seed in range(12):
        gen = torch.Generator().manual_seed(seed)
        output, row = _run(processor, schema, budget, engine_tokenizer, end, gen, marker)
        text = _text(output, token_text)
        assert len(output) <= budget and not row.given_up, text
        assert Judge(schema).accepts(text)
        if row.forced is None:
            assert output[-1] == end  # the model ended it: EOS, no marker
            continue
        closed += 1
        stops = ByteGrammar("json", schema).stops_after(text)
        assert output[-1] == (marker if stops else end), text
        with_eos += not stops
    assert closed >= 6 and with_eos >= eos_closings


# not \d: the engine's grammar reads it as any Unicode digit, the closer as 0-9 (a row whose
# output leaves the closer's reading gives up, and the answer ends as without closing)
@pytest.mark.parametrize(
    "pattern", [r"[a-z ]+\.", r"(Dear [A-Z][a-z]+, )?[a-z ,]+!", r"[0-9]+-[0-9]+"]
)
def test_a_regex_output_closes_to_a_whole_match(
    processor: BudgetCloseLogitsProcessor,
    engine_tokenizer: LLTokenizer,
    token_text: TokenText,
    pattern: str,
) -> None:
    marker, end = 0, token_text.end_token
    closed = 0
    for seed in range(12):
        gen = torch.Generator().manual_seed(seed)
        output, row = _run(processor, pattern, 12, engine_tokenizer, end, gen, marker, kind="regex")
        text = _text(output, token_text)
        assert len(output) <= 12 and not row.given_up, text
        assert output[-1] in (end, marker) and re.fullmatch(pattern, text), text
        closed += row.forced is not None
    assert closed >= 6


@pytest.fixture(scope="module")
def dev_cases(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    root = data_root(shared_data_dir(), tmp_path_factory.mktemp("jsb"))
    return load_cases(Path(root), list(SUBSETS), PER_SUBSET, seed=1)


def test_dev_split_outputs_validate_within_budget(
    dev_cases: list[Any],
    processor: BudgetCloseLogitsProcessor,
    engine_tokenizer: LLTokenizer,
    token_text: TokenText,
) -> None:
    rng = random.Random(0)
    gen = torch.Generator().manual_seed(0)
    runs = ended = valid = gave_up = 0
    for case, _ in compiling(dev_cases, engine_tokenizer):
        minimum = Closer(case.schema).minimum_document()
        if minimum is None or len(minimum) > 400:
            continue
        low = len(token_text.encode(minimum)) + 1
        for _ in range(BUDGETS):
            budget = rng.randint(low, 2 * low)
            output, row = _run(
                processor, case.schema, budget, engine_tokenizer, token_text.end_token, gen
            )
            runs += 1
            assert len(output) <= budget
            gave_up += row.given_up
            if output and output[-1] == token_text.end_token:
                ended += 1
                valid += Judge(case.schema).accepts(_text(output, token_text))
    print(f"\n{runs} runs: {ended} ended, {valid} valid, {gave_up} gave up")
    assert runs >= 60
    assert valid == ended
    assert gave_up <= runs // 20
