"""`structserve bench choice-trie` on a small synthetic set (no tokenizer needed)."""

from __future__ import annotations

import random

from bench.choice_trie import catalog_ids, measure


def test_measure_reports_every_figure_and_no_walk_leaves_the_set() -> None:
    rng = random.Random(0)
    sequences = [[rng.randrange(1, 40) for _ in range(rng.randrange(1, 6))] for _ in range(300)]
    row = measure(sequences, vocab=50, end=0, walks=64)
    assert row["not_members"] == 0
    assert row["walks_b16"] == 64 and row["walks_b1"] == 64
    assert row["items"] == len({tuple(s) for s in sequences})
    for key in (
        "build_s",
        "trie_mb",
        "mask_ms_b1",
        "mask_ms_b16",
        "advance_ms_b16",
        "step_keep_ms_b16",
    ):
        assert row[key] >= 0
    assert row["reference_mask_ms_b16"] > 0


def test_catalog_ids_are_distinct() -> None:
    ids = catalog_ids(1000)
    assert len(set(ids)) == 1000 and ids[0] == "SKU-0000000"
