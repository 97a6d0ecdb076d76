"""`structserve bench choice-registration` on a small set with the default model's tokenizer."""

from __future__ import annotations

from bench.choice_registration import measure
from bench.choice_trie import catalog_ids
from tests.prereq import default_model_dir, require


def test_rows_time_both_paths_and_every_part() -> None:
    folder = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    rows = measure(catalog_ids(3_000), folder, rounds=2)
    assert [row["round"] for row in rows] == [0, 1]
    for row in rows:
        assert row["size"] == 3_000
        for key in ("create_joined_s", "create_each_s", "digest_s", "hashes_s", "tokenize_s"):
            assert row[key] > 0
        assert row["build_s"] >= 0


def test_join_items_false_tokenizes_item_by_item() -> None:
    from choice_sets.tokenizer import ModelTokenizer

    folder = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    joined, each = ModelTokenizer.open(folder), ModelTokenizer.open(folder, join_items=False)
    assert joined._join_plan is not None and each._join_plan is None
    items = catalog_ids(500)
    a, b = joined.encode_flat(items), each.encode_flat(items)
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()
