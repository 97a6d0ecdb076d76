"""The build's row sort on packed keys against numpy's own lexicographic unique."""

from __future__ import annotations

import numpy as np
import pytest

from choice_sets.arrays import PAD, _sorted_unique, build_arrays_flat


def _rows(rng: np.random.Generator, vocab: int, count: int, width: int) -> np.ndarray:
    """[count, width] rows of few distinct tokens (shared prefixes, duplicates), PAD tails."""
    alphabet = np.unique(np.concatenate([[0, vocab - 1], rng.integers(0, vocab, 4)]))
    rows = rng.choice(alphabet, size=(count, width)).astype(np.int64)
    ends = rng.integers(1, width + 1, count)
    rows[np.arange(width)[None, :] >= ends[:, None]] = PAD
    return np.concatenate([rows, rows[: count // 4]])  # duplicates


@pytest.mark.parametrize("vocab", [2, 50, 49_152, 2**16, 2**20 + 3, 2**40])
@pytest.mark.parametrize("width", [1, 3, 11, 17])
def test_packed_sort_equals_lexicographic_unique(vocab: int, width: int) -> None:
    rng = np.random.default_rng(vocab + width)
    rows = _rows(rng, vocab, 3_000, width)
    expected = np.unique(rows, axis=0)  # lexicographic, PAD (-1) below every token
    np.testing.assert_array_equal(_sorted_unique(rows, vocab), expected)


@pytest.mark.parametrize("seed", range(4))
def test_edges_come_out_sorted_and_every_row_walks_to_its_end(seed: int) -> None:
    rng = np.random.default_rng(seed)
    vocab, end = 40, 0
    lengths = rng.integers(0, 9, 2_000)
    flat = rng.integers(1, 4, int(lengths.sum()))
    arrays = build_arrays_flat(flat, lengths, vocab, end)
    assert (np.diff(arrays.edge_key) > 0).all()
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i in range(0, lengths.size, 7):
        node = 0
        for token in [*flat[starts[i] : starts[i + 1]], end]:
            lo, hi = arrays.row_start[node], arrays.row_start[node + 1]
            at = lo + np.searchsorted(arrays.edge_key[lo:hi], node * vocab + token)
            assert at < hi and arrays.edge_key[at] == node * vocab + token
            node = int(arrays.edge_child[at])
        assert arrays.row_start[node] == arrays.row_start[node + 1]  # a leaf
