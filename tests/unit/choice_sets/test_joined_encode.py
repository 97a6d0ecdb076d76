"""Tokenizing items joined by newlines equals tokenizing each alone (SmolLM2's byte-level BPE),
on random items built to stress the pre-tokenizer: contractions, digit runs, punctuation runs,
inner spaces, tabs and carriage returns, non-breaking spaces, accents, emoji, CJK."""

from __future__ import annotations

import random

import pytest

from choice_sets.joined_encode import encode_joined, joinable, newline_token
from choice_sets.tokenizer import ModelTokenizer

PIECES = [
    "a", "Zz", "SKU", "-", "0", "0012345", "3/4", "'s", "'ll", "'", "''", " ", "  ", "\t", "\r",
    "\u00a0", "\u3000", "Ö", "ﬁ", "e\u0301", "🙂", "日本語", "...", "!?", "$", "_", "(", ")",
    "don't", " the", "x" * 40, "1e-3", "é", "\\", '"',
]  # fmt: skip


def _random_items(rng: random.Random, count: int) -> list[str]:
    """Items that are joinable: no newline, no whitespace at either end."""
    items = []
    while len(items) < count:
        item = "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 7)))
        if item.strip() == item and item:
            items.append(item)
    return items


@pytest.mark.parametrize("seed", range(3))
def test_joined_tokens_equal_each_item_alone(model_tokenizer: ModelTokenizer, seed: int) -> None:
    items = _random_items(random.Random(seed), 3_000)
    newline = model_tokenizer._newline
    assert newline is not None  # SmolLM2 qualifies: the fast path runs
    assert joinable(items)
    joined = encode_joined(model_tokenizer.tokenizer, items, newline, group=97)
    assert joined is not None
    expected = model_tokenizer.encode(items)
    assert joined[1].tolist() == [len(ids) for ids in expected]
    assert joined[0].tolist() == [t for ids in expected for t in ids]


@pytest.mark.parametrize(
    "items",
    [[""], ["a", ""], [" a"], ["a "], ["a\tb", "c\t"], ["a\nb"], ["\u00a0x"], ["x\u3000"], []],
)
def test_items_with_edges_the_regex_could_join_are_not_joinable(items: list[str]) -> None:
    assert not joinable(items)


def test_a_group_with_a_special_token_falls_back_and_is_refused(
    model_tokenizer: ModelTokenizer,
) -> None:
    items = ["PUMP-1", "a<|im_end|>b", "valve"]
    assert joinable(items)
    newline = model_tokenizer._newline
    assert newline is not None
    assert encode_joined(model_tokenizer.tokenizer, items, newline) is None


def test_mixed_chunks_equal_the_per_item_encoding(model_tokenizer: ModelTokenizer) -> None:
    """Chunks with an unjoinable item go item by item, the others joined; all equal `encode`."""
    items = _random_items(random.Random(7), 400)
    items[150] = " leading space"
    expected = model_tokenizer.encode(items)
    flat, lengths = model_tokenizer.encode_flat(items, chunk=100)
    assert lengths.tolist() == [len(ids) for ids in expected]
    assert flat.tolist() == [t for ids in expected for t in ids]


def test_tokenizers_that_normalize_or_add_a_prefix_space_are_not_joined(
    model_tokenizer: ModelTokenizer,
) -> None:
    tokenizer = model_tokenizer.tokenizer
    base = {
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "model": {"type": "BPE", "dropout": None},
    }
    assert newline_token(base, tokenizer) == tokenizer.token_to_id("Ċ")
    for change in (
        {"normalizer": {"type": "NFC"}},
        {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}},
        {"pre_tokenizer": {"type": "Sequence", "pretokenizers": []}},
        {"model": {"type": "Unigram"}},
        {"truncation": {"max_length": 512}},
    ):
        assert newline_token({**base, **change}, tokenizer) is None
