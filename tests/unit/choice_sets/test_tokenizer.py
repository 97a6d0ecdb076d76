"""The choice sets' tokenizer: the chunked flat encoding equals the per-item one; items that do
not survive the round trip are refused whichever chunk they fall in; the set digest keeps its
definition (stored sets are found again by it)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from choice_sets.arrays import build_arrays, build_arrays_flat
from choice_sets.store import distinct_digest, items_digest
from choice_sets.tokenizer import ModelTokenizer, NonCanonicalItemsError

ITEMS = ["PUMP-0001", "valve", 'Ölfilter 3/4"', "x", "garden hose 25 m", "PUMP-0002", "🙂 ok"]


def test_encode_flat_is_encode_laid_end_to_end(model_tokenizer: ModelTokenizer) -> None:
    expected = model_tokenizer.encode(ITEMS)
    for chunk in (1, 3, 1 << 16):
        flat, lengths = model_tokenizer.encode_flat(ITEMS, chunk=chunk)
        assert lengths.tolist() == [len(ids) for ids in expected]
        assert flat.tolist() == [t for ids in expected for t in ids]


def test_encode_flat_refuses_non_canonical_items_in_any_chunk(
    model_tokenizer: ModelTokenizer,
) -> None:
    items = ["a<|im_end|>b", *ITEMS, "<|im_start|>"]
    with pytest.raises(NonCanonicalItemsError) as caught:
        model_tokenizer.encode_flat(items, chunk=3)
    assert caught.value.items == ["a<|im_end|>b", "<|im_start|>"]


def test_flat_build_equals_the_list_build(model_tokenizer: ModelTokenizer) -> None:
    v, end = model_tokenizer.vocab_size, model_tokenizer.end_token
    flat, lengths = model_tokenizer.encode_flat(ITEMS, chunk=2)
    a = build_arrays(model_tokenizer.encode(ITEMS), v, end)
    b = build_arrays_flat(flat, lengths, v, end)
    for name in ("edge_key", "edge_child", "row_start"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.items == b.items == len(ITEMS)
    with pytest.raises(ValueError, match="tokens for sequences"):
        build_arrays_flat(flat[:-1], lengths, v, end)


def test_items_digest_keeps_its_definition() -> None:
    """Each distinct item and a NUL, ordered by the item's 64-bit BLAKE2b hash."""
    reference = hashlib.sha256()
    key = lambda item: hashlib.blake2b(item.encode(), digest_size=8).digest()[::-1]  # noqa: E731
    for item in sorted(set(ITEMS), key=key):  # little-endian uint64 order
        reference.update(item.encode() + b"\0")
    assert items_digest([*ITEMS, *reversed(ITEMS)]) == reference.hexdigest()


def test_equal_hashes_are_ordered_by_text() -> None:
    """A 64-bit collision cannot make the digest depend on the list's order."""
    hashes = np.array([7, 7, 3], dtype=np.uint64)
    a = distinct_digest(["b", "a", "c"], hashes)
    b = distinct_digest(["a", "b", "c"], hashes)
    assert a == b == hashlib.sha256(b"c\0a\0b\0").hexdigest()
