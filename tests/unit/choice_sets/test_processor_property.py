"""Property test of the engine's choice-set processor against the reference pointer trie: in a
batch where requests on two sets and unconstrained requests join, leave and swap slots at random
(vLLM's BatchUpdate protocol), every constrained row allows exactly the reference trie's next
tokens at every step, and every finished row spelled a member."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

from choice_sets.arrays import build_arrays
from choice_sets.store import DIR_ENV, XARG
from choice_sets.trie import pointer_trie
from choice_sets.vllm_processor import ChoiceSetLogitsProcessor

V, END, SLOTS = 64, 2, 8
WIDTH = V + 8  # the engine's logits may be wider than the vocabulary (padding)


def _random_set(rng: random.Random, alphabet: list[int]) -> list[list[int]]:
    """Sequences over a small alphabet: shared prefixes, duplicates, prefixes of each other."""
    return [[rng.choice(alphabet) for _ in range(rng.randint(1, 6))] for _ in range(300)]


@pytest.fixture
def two_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[int]]]:
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    rng = random.Random(7)
    sets = {"a.npz": _random_set(rng, [5, 6, 7, 9]), "b.npz": _random_set(rng, [9, 11, 63])}
    for name, sequences in sets.items():
        build_arrays(sequences, V, END).save(tmp_path / name)
    return sets


def _children(trie: dict[int, Any], prefix: list[int]) -> set[int]:
    node = trie
    for token in prefix:
        node = node[token]
    return set(node) or {END}  # an ended item allows only the end token again


def test_processor_masks_equal_the_reference_trie(two_sets: dict[str, list[list[int]]]) -> None:
    tries = {name: pointer_trie(seqs, END) for name, seqs in two_sets.items()}
    members = {name: {tuple(s) for s in seqs} for name, seqs in two_sets.items()}
    proc = ChoiceSetLogitsProcessor(None, torch.device("cpu"), False)  # type: ignore[arg-type]
    rng, gen = random.Random(3), torch.Generator().manual_seed(3)
    slots: dict[int, tuple[str | None, list[int]]] = {}  # slot -> (set, output)
    finished = 0
    for _step in range(1500):
        removed = [s for s, (_, out) in slots.items() if out and out[-1] == END]
        removed += [s for s in slots if s not in removed and rng.random() < 0.03]  # aborted
        for name, out in (slots.pop(s) for s in removed):
            if name is not None and out and out[-1] == END:
                assert tuple(out[:-1]) in members[name]
                finished += 1
        added = []
        for slot in range(SLOTS):
            if slot not in slots and rng.random() < 0.5:
                name = rng.choice(["a.npz", "b.npz", None])
                slots[slot] = (name, [])
                params = SamplingParams(extra_args={XARG: name} if name else None)
                added.append((slot, params, None, slots[slot][1]))
        # as vLLM's InputBatch does: a slot refilled in this update is not listed as removed
        removed = [s for s in removed if s not in {a[0] for a in added}]
        moved = []
        if len(slots) >= 2 and rng.random() < 0.2:
            i, j = rng.sample(sorted(slots), 2)
            slots[i], slots[j] = slots[j], slots[i]
            moved.append((i, j, MoveDirectionality.SWAP))
        if removed or added or moved:
            size = max(slots, default=-1) + 1
            proc.update_state(
                BatchUpdate(batch_size=size, removed=removed, added=added, moved=moved)  # type: ignore[arg-type]
            )
        else:
            proc.update_state(None)
        if not slots:
            continue
        logits = proc.apply(torch.randn(max(slots) + 1, WIDTH, generator=gen))  # [B, V']
        for slot, (name, out) in slots.items():
            finite = set(torch.isfinite(logits[slot]).nonzero()[:, 0].tolist())
            if name is None:
                assert len(finite) == WIDTH
                out.append(rng.choice([5, 9, END]))
                continue
            assert finite == _children(tries[name], out), (name, out)
            out.append(rng.choice(sorted(finite)))
    assert finished >= 500
