"""The choice-set store: validation, limits, idempotent registration, atomic folders, membership,
and compiled tries that spell exactly the items with the real tokenizer."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
import torch

from choice_sets.arrays import TrieArrays
from choice_sets.store import (
    INLINE_PREFIX,
    ChoiceSetExistsError,
    ChoiceSetLimits,
    ChoiceSetNotFoundError,
    ChoiceSetStore,
    ChoiceSetTooLargeError,
    InvalidChoiceSetError,
    items_digest,
)
from choice_sets.tokenizer import ModelTokenizer, NonCanonicalItemsError
from choice_sets.trie import ChoiceTrie

ITEMS = ["SKU-0001 red", "SKU-0002 blue", "SKU-0001 red", "héllo wörld", "a", "ab"]


def test_create_dedupes_and_reads_back(tmp_path: Path, model_tokenizer: ModelTokenizer) -> None:
    store = ChoiceSetStore(tmp_path)
    info, created = store.create("skus", ITEMS, [model_tokenizer])
    assert created and info.items == 5 and info.duplicates_dropped == 1
    assert store.get("skus") == info
    assert [i.name for i in store.list_sets()] == ["skus"]
    assert json.loads((tmp_path / "skus" / "items.json").read_text()) == list(dict.fromkeys(ITEMS))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_same_items_again_is_idempotent_other_items_conflict(tmp_path: Path) -> None:
    store = ChoiceSetStore(tmp_path)
    first, _ = store.create("s", ["x", "y"])
    again, created = store.create("s", ["y", "x", "x"])  # same set, other order
    assert not created and again == first
    with pytest.raises(ChoiceSetExistsError):
        store.create("s", ["x", "z"])


def test_a_set_stored_with_the_older_digest_is_still_the_same_set(tmp_path: Path) -> None:
    """Sets stored before the digest was taken in hash order (sorted text) keep re-registering
    idempotently; other items of the same count still conflict."""
    store = ChoiceSetStore(tmp_path)
    store.create("s", ["x", "y"])
    meta = tmp_path / "s" / "meta.json"
    older = hashlib.sha256(b"x\0y\0").hexdigest()
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "digest": older}))
    again, created = store.create("s", ["y", "x"])
    assert not created and again.digest == older
    with pytest.raises(ChoiceSetExistsError):
        store.create("s", ["x", "z"])


@pytest.mark.parametrize(
    ("name", "items", "error"),
    [
        ("ok", [], InvalidChoiceSetError),
        ("ok", "abc", InvalidChoiceSetError),
        ("ok", ["a", 3], InvalidChoiceSetError),
        ("ok", ["a", ""], InvalidChoiceSetError),
        ("bad/name", ["a"], InvalidChoiceSetError),
        ("", ["a"], InvalidChoiceSetError),
        ("_hidden", ["a"], InvalidChoiceSetError),
        (f"{INLINE_PREFIX}abc", ["a"], InvalidChoiceSetError),  # only the gateway's own
        (None, ["a"], InvalidChoiceSetError),
        ("..", ["a"], InvalidChoiceSetError),
        ("ok", ["a"] * 4 + ["b"], ChoiceSetTooLargeError),
        ("ok", ["x" * 9], ChoiceSetTooLargeError),
    ],
)
def test_bad_input_raises_typed_errors(
    tmp_path: Path, name: str, items: object, error: type[Exception]
) -> None:
    store = ChoiceSetStore(tmp_path, ChoiceSetLimits(max_items=4, max_item_chars=8))
    with pytest.raises(error):
        store.create(name, items)  # type: ignore[arg-type]
    assert store.list_sets() == []


def test_set_count_limit_and_delete(tmp_path: Path) -> None:
    store = ChoiceSetStore(tmp_path, ChoiceSetLimits(max_sets=2))
    store.create("a", ["1"])
    store.create("b", ["2"])
    with pytest.raises(ChoiceSetTooLargeError):
        store.create("c", ["3"])
    store.create(f"{INLINE_PREFIX}{items_digest(['3'])[:32]}", ["3"], inline=True)  # not counted
    assert [i.name for i in store.list_sets()] == ["a", "b"]  # inline sets are not listed
    store.delete("a")
    with pytest.raises(ChoiceSetNotFoundError):
        store.get("a")
    with pytest.raises(ChoiceSetNotFoundError):
        store.delete("a")
    store.create("c", ["3"])


def test_membership_by_hash(tmp_path: Path) -> None:
    store = ChoiceSetStore(tmp_path)
    info, _ = store.create("m", [f"id-{i}" for i in range(1000)])
    assert all(store.contains(info, f"id-{i}") for i in range(0, 1000, 37))
    assert not store.contains(info, "id-1000")
    assert not store.contains(info, "id-1 ")
    assert not store.contains(info, "")


def test_compiled_trie_spells_each_item(tmp_path: Path, model_tokenizer: ModelTokenizer) -> None:
    store = ChoiceSetStore(tmp_path)
    store.create("skus", ITEMS, [model_tokenizer])
    info, relative = store.compiled("skus", model_tokenizer)
    trie = ChoiceTrie.from_arrays(TrieArrays.load(tmp_path / relative), backend="torch")
    assert trie.items == info.items and trie.vocab_size == model_tokenizer.vocab_size
    for item in dict.fromkeys(ITEMS):
        node = torch.zeros(1, dtype=torch.long)
        for token in [*model_tokenizer.encode([item])[0], model_tokenizer.end_token]:
            assert bool(trie.allowed(node)[0, token]), item
            node = trie.advance(node, torch.tensor([token]))
        assert bool(trie.allowed(node)[0, model_tokenizer.end_token])  # a finished item stays


def test_compiles_lazily_for_a_tokenizer_it_has_not_seen(
    tmp_path: Path, model_tokenizer: ModelTokenizer
) -> None:
    store = ChoiceSetStore(tmp_path)
    store.create("later", ["one", "two"])  # stored without a tokenizer
    _, relative = store.compiled("later", model_tokenizer)
    assert (tmp_path / relative).is_file()
    assert TrieArrays.load(tmp_path / relative).items == 2


def test_non_canonical_items_are_refused(tmp_path: Path, model_tokenizer: ModelTokenizer) -> None:
    store = ChoiceSetStore(tmp_path)
    with pytest.raises(NonCanonicalItemsError, match="im_end"):
        store.create("special", ["fine", "a<|im_end|>b"], [model_tokenizer])
    assert store.list_sets() == []


def test_concurrent_registrations_of_one_name_store_one_set(tmp_path: Path) -> None:
    store = ChoiceSetStore(tmp_path)
    results: list[object] = []

    def register(items: list[str]) -> None:
        try:
            results.append(store.create("race", items)[1])
        except ChoiceSetExistsError as exc:
            results.append(exc)

    threads = [threading.Thread(target=register, args=([f"v{i % 2}"],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1  # one created it; the rest saw it (same or other items)
    assert store.get("race").items == 1


def test_inline_sets_are_bounded_oldest_first(tmp_path: Path) -> None:
    store = ChoiceSetStore(tmp_path, ChoiceSetLimits(max_inline_sets=2))
    names = []
    for i in range(4):
        name = f"{INLINE_PREFIX}{items_digest([str(i)])[:32]}"
        store.create(name, [str(i)], inline=True)
        names.append(name)
    kept = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(INLINE_PREFIX))
    assert kept == sorted(names[2:])


def test_sweep_removes_only_old_leftovers(tmp_path: Path) -> None:
    store = ChoiceSetStore(tmp_path)
    store.create("kept", ["a"])
    (tmp_path / ".new-x-1").mkdir()
    (tmp_path / ".deleted-y-2").mkdir()
    assert store.sweep(older_than_s=3600) == 0  # fresh: a write may be in progress
    assert store.sweep(older_than_s=-1) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["a", "", "b"], r"items\[1\] must be a non-empty string"),
        (["a", "b", 3], r"items\[2\] must be a non-empty string"),
        (["a", None], r"items\[1\] must be a non-empty string"),
        (["a", "x" * 9, "y" * 9], r"items\[1\] has 9 characters; the limit is 8"),
    ],
)
def test_errors_name_the_first_bad_item(tmp_path: Path, items: list[object], message: str) -> None:
    store = ChoiceSetStore(tmp_path, ChoiceSetLimits(max_item_chars=8))
    with pytest.raises((InvalidChoiceSetError, ChoiceSetTooLargeError), match=message):
        store.create("ok", items)
