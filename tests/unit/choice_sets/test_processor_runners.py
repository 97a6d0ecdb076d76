"""The choice-set processor under both of vLLM 0.32's processor interfaces: each model runner's
own loader accepts the installed entry point (the V2 runner, the GPU default, refuses a
V1-only class and the engine does not start), the V2 interface (slots, request state, reordered
rows, a resumed request) masks exactly as the reference trie, and under V1 a token that arrives
as an async-scheduling placeholder is followed once vLLM fills it in before sampling."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from vllm import SamplingParams
from vllm.exceptions import VLLMValidationError
from vllm.v1.sample.logits_processor import BatchUpdate
from vllm.v1.worker.gpu.sample.logits_processor.interface import (
    LogitsContext,
    LogitsProcRequestState,
)

from choice_sets.arrays import build_arrays
from choice_sets.store import DIR_ENV, XARG
from choice_sets.trie import pointer_trie
from choice_sets.vllm_processor import ChoiceSetLogitsProcessor

V, END, SLOTS, MAX_LEN, PROMPT = 64, 2, 6, 64, 3


@pytest.fixture
def sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[int]]]:
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    rng = random.Random(11)
    found = {
        name: [[rng.choice(alphabet) for _ in range(rng.randint(1, 5))] for _ in range(200)]
        for name, alphabet in (("a.npz", [5, 6, 7]), ("b.npz", [8, 9, 63]))
    }
    for name, sequences in found.items():
        build_arrays(sequences, V, END).save(tmp_path / name)
    return found


def _params(name: str | None) -> SamplingParams:
    return SamplingParams(extra_args={XARG: name} if name else None)


def _children(trie: dict[int, Any], prefix: list[int]) -> set[int]:
    node = trie
    for token in prefix:
        node = node[token]
    return set(node) or {END}


def test_both_runners_load_the_entry_point() -> None:
    from vllm.v1.sample.logits_processor import _load_logitsprocs_plugins
    from vllm.v1.worker.gpu.sample.logits_processor.loader import (
        _load_v2_logitsprocs_plugins,
        build_custom_logits_processors,
        build_custom_logits_processors_params_validator,
    )

    assert ChoiceSetLogitsProcessor in _load_logitsprocs_plugins()
    assert ChoiceSetLogitsProcessor in _load_v2_logitsprocs_plugins()
    validate = build_custom_logits_processors_params_validator(())  # the V2 frontend's check
    with pytest.raises(VLLMValidationError, match="choice set"):
        validate(_params("missing/compiled/x.npz"))  # 400 at admission, as under V1
    built = build_custom_logits_processors(None, _request_state(), False)  # type: ignore[arg-type]
    assert any(isinstance(p, ChoiceSetLogitsProcessor) for p in built)


def _request_state() -> SimpleNamespace:
    """The V2 runner's RequestState, as far as processors see it (LogitsProcRequestState)."""
    return SimpleNamespace(
        device=torch.device("cpu"),
        max_num_reqs=SLOTS,
        vocab_size=V,
        all_token_ids=SimpleNamespace(gpu=torch.zeros(SLOTS, MAX_LEN, dtype=torch.int32)),
        prompt_len=SimpleNamespace(np=np.zeros(SLOTS, dtype=np.int32)),
        prefill_len=SimpleNamespace(np=np.zeros(SLOTS, dtype=np.int32)),
        total_len=SimpleNamespace(gpu=torch.zeros(SLOTS, dtype=torch.int64)),
    )


def _context(order: list[int]) -> LogitsContext:
    """One decoding row per request, in the batch order `order` (slots)."""
    mapping = torch.tensor(order, dtype=torch.int32)
    zeros = torch.zeros(len(order), dtype=torch.int64)
    return LogitsContext(
        expanded_idx_mapping=mapping,
        idx_mapping=mapping,
        idx_mapping_np=np.array(order, dtype=np.int32),
        expanded_local_pos=zeros,
        input_ids=zeros,
        pos=zeros,
        seq_lens_upper_bound_np=np.zeros(len(order), dtype=np.int32),
    )


def test_v2_interface_masks_as_the_reference_trie(sets: dict[str, list[list[int]]]) -> None:
    tries = {name: pointer_trie(seqs, END) for name, seqs in sets.items()}
    members = {name: {tuple(s) for s in seqs} for name, seqs in sets.items()}
    state = _request_state()
    proc = ChoiceSetLogitsProcessor(None, LogitsProcRequestState.from_request_state(state))  # type: ignore[arg-type]
    rng, gen = random.Random(5), torch.Generator().manual_seed(5)
    live: dict[int, str | None] = {}
    finished = resumed = 0

    def admit(slot: int, name: str | None, output: list[int]) -> None:
        """A request enters `slot` (with `output` already committed when it resumes)."""
        prompt = [rng.randint(10, 60) for _ in range(PROMPT)]
        state.all_token_ids.gpu[slot, : PROMPT + len(output)] = torch.tensor(prompt + output)
        state.prompt_len.np[slot] = PROMPT
        state.total_len.gpu[slot] = PROMPT + len(output)
        assert proc.add_request(slot, _params(name)) is (name is not None)
        live[slot] = name

    for _step in range(800):
        for slot in range(SLOTS):
            if slot not in live and rng.random() < 0.5:
                name = rng.choice(["a.npz", "b.npz", None])
                prefix: list[int] = []
                if name and rng.random() < 0.2:  # resumed after preemption: output replayed
                    item = rng.choice(sets[name])
                    prefix = item[: rng.randint(0, len(item))]
                    resumed += 1
                admit(slot, name, prefix)
        order = list(live)
        rng.shuffle(order)  # rows are reordered every step
        logits = proc.apply(torch.randn(len(order), V, generator=gen), _context(order))
        for row, slot in enumerate(order):
            name = live[slot]
            total = int(state.total_len.gpu[slot])
            output = state.all_token_ids.gpu[slot, PROMPT:total].tolist()
            finite = set(torch.isfinite(logits[row]).nonzero()[:, 0].tolist())
            if name is None:
                assert len(finite) == V
                token = rng.choice([5, 9, END])
            else:
                assert finite == _children(tries[name], output), (name, output)
                token = rng.choice(sorted(finite))
            state.all_token_ids.gpu[slot, total] = token  # vLLM commits the sampled token
            state.total_len.gpu[slot] = total + 1
            if token == END or total + 1 >= MAX_LEN:
                if name is not None:
                    assert tuple(output) in members[name]
                    finished += 1
                del live[slot]
    assert finished >= 300 and resumed >= 20


def test_v1_follows_a_token_filled_in_after_update_state(
    sets: dict[str, list[list[int]]],
) -> None:
    """Async scheduling (V1 runner): the previous token is a -1 placeholder when update_state
    runs; vLLM replaces it in the output list before sampling, and the mask must follow it."""
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    trie = pointer_trie(sets["b.npz"], END)
    output: list[int] = []
    added = [(0, _params("b.npz"), None, output)]
    proc.update_state(BatchUpdate(batch_size=1, removed=[], added=added, moved=[]))
    first = sorted(_children(trie, []))[0]
    output.append(-1)  # the token being copied back from the device
    proc.update_state(None)
    output[-1] = first  # update_async_output_token_ids, right before the sampler
    logits = proc.apply(torch.zeros(1, V))
    assert set(torch.isfinite(logits[0]).nonzero()[:, 0].tolist()) == _children(trie, [first])
