"""The engine's choice-set logits processor, driven through vLLM's own BatchUpdate protocol:
every sampled output is an item, rows added/moved/removed keep their state, bad references are
refused as vLLM expects (ValueError -> 400)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

from choice_sets.logits_mask import keep_only
from choice_sets.step_metrics import mask_metrics
from choice_sets.store import DIR_ENV, XARG, ChoiceSetStore
from choice_sets.tokenizer import ModelTokenizer
from choice_sets.vllm_processor import ChoiceSetLogitsProcessor

ITEMS = [f"{family}-{i:04d}" for family in ("PUMP", "PIPE", "PLUG") for i in range(50)]


@pytest.fixture
def stored(tmp_path: Path, model_tokenizer: ModelTokenizer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A set registered in a store the processor reads ($STRUCTSERVE_CHOICE_SETS_DIR)."""
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    store = ChoiceSetStore(tmp_path)
    store.create("parts", ITEMS, [model_tokenizer])
    return store.compiled("parts", model_tokenizer)[1]


def _params(reference: str | None) -> SamplingParams:
    return SamplingParams(extra_args={XARG: reference} if reference else None)


def _added(index: int, reference: str | None, output: list[int]) -> tuple:
    return (index, _params(reference), None, output)


def _two_rows(
    proc: ChoiceSetLogitsProcessor, first: str | None, second: str | None
) -> tuple[list[int], list[int]]:
    """Add two requests (rows 0 and 1) with these references; their output lists."""
    outputs: tuple[list[int], list[int]] = ([], [])
    added = [_added(0, first, outputs[0]), _added(1, second, outputs[1])]
    proc.update_state(BatchUpdate(batch_size=2, removed=[], added=added, moved=[]))
    return outputs


def _step(proc: ChoiceSetLogitsProcessor, outputs: list[list[int]], gen: torch.Generator) -> None:
    """One decoding step: random logits, processed, sampled; tokens appended as vLLM does."""
    logits = torch.randn(len(outputs), 49152, generator=gen)  # [B, V]
    logits = proc.apply(logits)
    tokens = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]  # [B]
    for out, token in zip(outputs, tokens.tolist(), strict=True):
        out.append(token)
    proc.update_state(None)


def test_sampled_outputs_are_items(stored: str, model_tokenizer: ModelTokenizer) -> None:
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(0)
    end = model_tokenizer.end_token
    for _ in range(5):
        outputs: list[list[int]] = [[] for _ in range(4)]
        added = [_added(i, stored, outputs[i]) for i in range(3)] + [_added(3, None, outputs[3])]
        proc.update_state(BatchUpdate(batch_size=4, removed=[], added=added, moved=[]))
        while not all(out and out[-1] == end for out in outputs[:3]):
            _step(proc, outputs, gen)
        for out in outputs[:3]:
            text = model_tokenizer.tokenizer.decode(out, skip_special_tokens=True)
            assert text in ITEMS
        proc.update_state(BatchUpdate(batch_size=0, removed=[0, 1, 2, 3], added=[], moved=[]))
        assert proc.rows == {}


def test_logits_narrower_than_the_trie_leave_the_rows_unconstrained(stored: str) -> None:
    """A trie built for a wider vocabulary than the engine's logits (another model): the rows
    stay as they are and the engine keeps running."""
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    _two_rows(proc, stored, stored)
    logits = torch.randn(2, 1000)  # [B, V'] with V' below SmolLM2's 49,152
    assert torch.equal(proc.apply(logits.clone()), logits)


def test_unconstrained_rows_are_untouched(stored: str) -> None:
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    _two_rows(proc, None, stored)
    logits = torch.randn(2, 49152)
    before = logits.clone()
    after = proc.apply(logits)
    assert torch.equal(after[0], before[0])
    assert int(torch.isfinite(after[1]).sum()) == 3  # PUMP / PIPE / PLUG's first tokens at most


def _sample(metric: Any, suffix: str) -> float:
    return sum(s.value for f in metric.collect() for s in f.samples if s.name.endswith(suffix))


def test_each_step_with_choice_rows_is_timed(stored: str) -> None:
    metrics = mask_metrics()
    steps, rows = _sample(metrics.seconds, "_count"), _sample(metrics.rows, "_total")
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    proc.apply(torch.randn(2, 49152))  # no rows yet: nothing to time
    assert _sample(metrics.seconds, "_count") == steps
    _two_rows(proc, stored, stored)
    proc.apply(torch.randn(2, 49152))
    proc.apply(torch.randn(2, 49152))
    assert _sample(metrics.seconds, "_count") == steps + 2
    assert _sample(metrics.rows, "_total") == rows + 4
    assert _sample(metrics.seconds, "_sum") > 0


def test_moves_and_swaps_keep_each_rows_state(stored: str, model_tokenizer: ModelTokenizer) -> None:
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    ids = model_tokenizer.encode(["PUMP-0001", "PLUG-0049"])
    out_a, out_b = _two_rows(proc, stored, stored)
    out_a.append(ids[0][0])
    out_b.append(ids[1][0])
    proc.update_state(
        BatchUpdate(batch_size=2, removed=[], added=[], moved=[(0, 1, MoveDirectionality.SWAP)])
    )
    logits = proc.apply(torch.zeros(2, 49152))
    assert bool(torch.isfinite(logits[1, ids[0][1]]))  # row 1 now continues "PUMP..."
    assert bool(torch.isfinite(logits[0, ids[1][1]]))  # row 0 continues "PLUG..."
    proc.update_state(
        BatchUpdate(
            batch_size=1, removed=[1], added=[], moved=[(0, 1, MoveDirectionality.UNIDIRECTIONAL)]
        )
    )
    assert list(proc.rows) == [1] and proc.rows[1].output is out_b


def test_validate_params_refuses_what_the_engine_cannot_load(stored: str) -> None:
    ChoiceSetLogitsProcessor.validate_params(_params(stored))
    ChoiceSetLogitsProcessor.validate_params(_params(None))
    for bad in ("parts/compiled/missing.npz", "../etc/passwd", "/abs/x.npz", "parts/items.json"):
        with pytest.raises(ValueError):
            ChoiceSetLogitsProcessor.validate_params(_params(bad))


def test_validate_params_without_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DIR_ENV, raising=False)
    with pytest.raises(ValueError, match=DIR_ENV):
        ChoiceSetLogitsProcessor.validate_params(_params("x/compiled/y.npz"))


def test_random_item_walks_match_greedy_targets(
    stored: str, model_tokenizer: ModelTokenizer
) -> None:
    """Forcing a chosen item's tokens (as a model that wants it would) is never masked."""
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    rng = random.Random(1)
    for item in rng.sample(ITEMS, 20):
        out: list[int] = []
        proc.update_state(
            BatchUpdate(batch_size=1, removed=[0], added=[_added(0, stored, out)], moved=[])
        )
        for token in [*model_tokenizer.encode([item])[0], model_tokenizer.end_token]:
            logits = proc.apply(torch.zeros(1, 49152))
            assert bool(torch.isfinite(logits[0, token])), item
            out.append(token)
            proc.update_state(None)


def test_a_set_deleted_after_validation_never_takes_the_engine_down(
    stored: str, tmp_path: Path
) -> None:
    ChoiceSetLogitsProcessor.validate_params(_params(stored))
    (tmp_path / stored).unlink()  # deleted between the frontend's check and the engine step
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    out: list[int] = []
    proc.update_state(
        BatchUpdate(batch_size=1, removed=[], added=[_added(0, stored, out)], moved=[])
    )
    assert proc.rows == {}
    logits = torch.randn(1, 49152)
    assert torch.equal(proc.apply(logits.clone()), logits)


@pytest.mark.parametrize(
    ("indices", "width"),
    [([0, 1, 2, 3], 40), ([2, 3], 40), ([0, 2, 5], 40), ([1, 2, 4], 48), ([3], 40)],
    ids=["all", "contiguous", "scattered", "padded-vocab", "one"],
)
def test_keep_only_equals_a_masked_copy(indices: list[int], width: int) -> None:
    """In-place blocking equals masking a copy of the rows: listed tokens (repeats included)
    keep their logits, everything else (columns past the trie's vocabulary too) becomes -inf,
    other rows stay."""
    gen = torch.Generator().manual_seed(len(indices) + width)
    logits = torch.randn(6, width, generator=gen)  # [B, V']
    tokens = torch.randint(0, 40, (len(indices), 5), generator=gen)  # [b, K]
    tokens[:, -1] = tokens[:, 0]  # a repeated token, as trie_next pads
    expected = logits.clone()
    for j, i in enumerate(indices):
        keep = torch.zeros(width, dtype=torch.bool)
        keep[tokens[j]] = True
        expected[i] = torch.where(keep, logits[i], torch.tensor(float("-inf")))
    keep_only(logits, indices, tokens)
    assert torch.equal(logits, expected)
