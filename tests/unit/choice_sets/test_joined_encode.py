"""Tokenizing items joined by newlines equals tokenizing each alone (SmolLM2's byte-level BPE),
on random items built to stress the pre-tokenizer: contractions, digit runs, punctuation runs,
inner spaces, tabs and carriage returns, non-breaking spaces, accents, emoji, CJK."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from choice_sets.joined_encode import (
    byte_alphabet,
    encode_joined,
    join_plan,
    joinable,
)
from choice_sets.tokenizer import ModelTokenizer, NonCanonicalItemsError

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
    plan = model_tokenizer._join_plan
    assert plan is not None  # SmolLM2 qualifies: the fast path runs
    assert joinable(items)
    joined = encode_joined(model_tokenizer.tokenizer, items, plan, group=97)
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


@pytest.mark.parametrize(
    "bad", ["a<|im_end|>b", "<|endoftext|>", "ctl\x04byte", "\x06", "plane4\U00040000"]
)
def test_a_group_that_would_not_decode_back_falls_back_and_is_refused(
    model_tokenizer: ModelTokenizer, bad: str
) -> None:
    """A special token's text, or a control byte SmolLM2's vocabulary cannot spell (BPE drops
    it): the joined group is refused, and item by item the round trip names the item."""
    items = ["PUMP-1", bad, "valve"]
    assert joinable(items)
    plan = model_tokenizer._join_plan
    assert plan is not None
    assert encode_joined(model_tokenizer.tokenizer, items, plan) is None
    with pytest.raises(NonCanonicalItemsError) as caught:
        model_tokenizer.encode_flat(items)
    assert caught.value.items == [bad]


def test_smollm2_vocabulary_lacks_control_bytes_the_plan_searches_for(
    model_tokenizer: ModelTokenizer,
) -> None:
    """The plan's bytes are exactly those SmolLM2's BPE drops: six ASCII control bytes, and
    the lead bytes of 4-byte characters in planes 4-11 (0xF1, 0xF2) among valid UTF-8."""
    plan = model_tokenizer._join_plan
    assert plan is not None
    encode = model_tokenizer.tokenizer.encode
    for byte in range(0x80):
        assert (byte in plan.dropped) == (encode(chr(byte), add_special_tokens=False).ids == [])
    for point in (0x3FFFF, 0x40000, 0xBFFFF, 0xC0000, 0x10FFFF):
        lost = model_tokenizer.tokenizer.decode(encode(chr(point)).ids) != chr(point)
        assert lost == any(byte in plan.dropped for byte in chr(point).encode())
    assert sorted(set(plan.dropped) - set(range(0x80))) == [
        0xC0,
        0xC1,
        0xF1,
        0xF2,
        *range(0xF5, 0x100),
    ]


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
        "decoder": {"type": "ByteLevel"},
    }
    plan = join_plan(base, tokenizer)
    assert plan is not None and plan.newline == tokenizer.token_to_id("Ċ")
    assert plan.added.tolist() == sorted(tokenizer.get_added_tokens_decoder())
    for change in (
        {"normalizer": {"type": "NFC"}},
        {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}},
        {"pre_tokenizer": {"type": "Sequence", "pretokenizers": []}},
        {"model": {"type": "Unigram"}},
        {"truncation": {"max_length": 512}},
        {"model": {"type": "BPE", "continuing_subword_prefix": "##"}},
        {"decoder": {"type": "WordPiece"}},
    ):
        assert join_plan({**base, **change}, tokenizer) is None


def _byte_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    """A merge-free byte-level BPE over `vocab`."""
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def test_a_group_holding_a_byte_the_vocabulary_lacks_is_refused() -> None:
    """A vocabulary without the byte 0xA9 (the tail of "©", U+00A9, and of "é", U+00E9): groups
    holding it are refused, others are joined; with every byte there is nothing to search for."""
    alphabet = byte_alphabet()
    tokenizer = _byte_tokenizer({char: i for i, char in enumerate(alphabet) if i != 0xA9})
    plan = join_plan(json.loads(tokenizer.to_str()), tokenizer)
    assert plan is not None and plan.dropped == b"\xa9"
    assert encode_joined(tokenizer, ["ok", "\u00a9 2026"], plan) is None
    assert encode_joined(tokenizer, ["caf\u00e9"], plan) is None
    joined = encode_joined(tokenizer, ["ok", "\u00a8"], plan)
    assert joined is not None and joined[1].tolist() == [2, 2]
    tokenizer = _byte_tokenizer({char: i for i, char in enumerate(alphabet)})
    plan = join_plan(json.loads(tokenizer.to_str()), tokenizer)
    assert plan is not None and plan.dropped == b""
