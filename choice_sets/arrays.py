"""The flat arrays of a choice-set trie, built with numpy only (no torch): what the gateway
compiles once per tokenizer and stores, and what the engine loads (`choice_sets.trie`).

The build sorts the padded sequences, finds where each row's prefix first differs from the
previous row's, and numbers the new prefixes (`choice_sets.trie` documents the layout).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAD = -1  # after a sequence's end token
FORMAT_VERSION = 1


class EmptyChoiceSetError(ValueError):
    """A choice set needs at least one item."""


class TokenOutOfRangeError(ValueError):
    """A token id is negative or not below the vocabulary size."""


@dataclass(frozen=True)
class TrieArrays:
    """A trie as numpy arrays: sorted edge keys `parent · V + token`, their children, CSR row
    starts, and how many distinct sequences it holds."""

    vocab_size: int
    end_token: int
    edge_key: np.ndarray  # [E] int64, sorted
    edge_child: np.ndarray  # [E] int32
    row_start: np.ndarray  # [N + 1] int64
    items: int

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays."""
        return int(self.edge_key.nbytes + self.edge_child.nbytes + self.row_start.nbytes)

    def root_tokens(self) -> np.ndarray:
        """[k] int64: the root's next tokens."""
        return self.edge_key[: int(self.row_start[1])] % self.vocab_size

    def save(self, path: Path) -> None:
        """Write an uncompressed .npz (atomically: a temporary file renamed into place)."""
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with tmp.open("wb") as handle:
            np.savez(
                handle,
                version=np.int64(FORMAT_VERSION),
                vocab_size=np.int64(self.vocab_size),
                end_token=np.int64(self.end_token),
                items=np.int64(self.items),
                edge_key=self.edge_key,
                edge_child=self.edge_child,
                row_start=self.row_start,
            )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> TrieArrays:
        """Read what `save` wrote.

        Raises:
            ValueError: the file is not a choice-set trie of this format version.
        """
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"]) != FORMAT_VERSION:
                raise ValueError(f"{path}: trie format {int(data['version'])}, expected 1")
            return cls(
                vocab_size=int(data["vocab_size"]),
                end_token=int(data["end_token"]),
                edge_key=data["edge_key"],
                edge_child=data["edge_child"],
                row_start=data["row_start"],
                items=int(data["items"]),
            )


def build_arrays(sequences: Sequence[Sequence[int]], vocab_size: int, end_token: int) -> TrieArrays:
    """The trie of `sequences` (token ids, each gets `end_token` appended; duplicates count once).

    Raises:
        EmptyChoiceSetError: no sequences.
        TokenOutOfRangeError: a token id outside [0, vocab_size).
    """
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    flat = np.fromiter(itertools.chain.from_iterable(sequences), np.int64, int(lengths.sum()))
    return build_arrays_flat(flat, lengths, vocab_size, end_token)


def build_arrays_flat(
    flat: np.ndarray, lengths: np.ndarray, vocab_size: int, end_token: int
) -> TrieArrays:
    """`build_arrays` over the sequences laid end to end: `flat` [sum(lengths)] token ids,
    `lengths` [S] (what `ModelTokenizer.encode_flat` returns; no Python list per item).

    Raises:
        EmptyChoiceSetError: no sequences.
        TokenOutOfRangeError: a token id outside [0, vocab_size).
    """
    if lengths.size == 0:
        raise EmptyChoiceSetError("a choice set needs at least one item")
    rows = _sorted_unique(_padded(flat, lengths, end_token, vocab_size), vocab_size)  # [S, L]
    parent, token, child, n_nodes = _edges(rows)
    key = parent.astype(np.int64) * vocab_size + token  # ascending: see `_edges`
    row_start = np.searchsorted(key, np.arange(n_nodes + 1, dtype=np.int64) * vocab_size)
    return TrieArrays(
        vocab_size=vocab_size,
        end_token=end_token,
        edge_key=key,
        edge_child=child.astype(np.int32),
        row_start=row_start.astype(np.int64),
        items=int(rows.shape[0]),
    )


def _padded(flat: np.ndarray, lengths: np.ndarray, end_token: int, vocab_size: int) -> np.ndarray:
    """[S, L] int64: each sequence, its end token, then PAD."""
    lengths = lengths.astype(np.int64)
    if flat.size != int(lengths.sum()):
        raise ValueError(f"{flat.size} tokens for sequences of {int(lengths.sum())} in all")
    if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= vocab_size):
        raise TokenOutOfRangeError(f"token ids must lie in [0, {vocab_size})")
    if not 0 <= end_token < vocab_size:
        raise TokenOutOfRangeError(f"end token {end_token} not in [0, {vocab_size})")
    width = int(lengths.max()) + 1
    rows = np.full((lengths.size, width), PAD, dtype=np.int64)
    cols = np.arange(width)[None, :]
    rows[cols < lengths[:, None]] = flat  # row-major fill: each row's tokens in order
    rows[np.arange(lengths.size), lengths] = end_token
    return rows


def _sorted_unique(rows: np.ndarray, vocab_size: int) -> np.ndarray:
    """Rows in lexicographic order, duplicates dropped (sorted on packed keys: `_sort_keys`)."""
    keys = _sort_keys(rows, vocab_size)  # [K, S] uint64, most significant first
    order = np.lexsort(keys[::-1])
    rows, keys = rows[order], keys[:, order]
    keep = np.ones(rows.shape[0], dtype=bool)
    keep[1:] = (keys[:, 1:] != keys[:, :-1]).any(axis=0)
    return rows[keep]


def _sort_keys(rows: np.ndarray, vocab_size: int) -> np.ndarray:
    """[K, S] uint64: each row's cells (PAD as 0, token t as t + 1) packed big-endian, as many
    per word as fit, so comparing the K words in turn is comparing the rows cell by cell.

    1M rows of 11 SmolLM2 tokens: 3 sort keys instead of 11.
    """
    bits = max(1, int(vocab_size).bit_length())  # t + 1 <= vocab_size
    per_word = 64 // bits
    s, width = rows.shape
    cells = (rows + 1).astype(np.uint64)  # PAD (-1) -> 0
    n_keys = -(-width // per_word)
    pad = n_keys * per_word - width
    if pad:
        cells = np.concatenate([cells, np.zeros((s, pad), dtype=np.uint64)], axis=1)
    cells = cells.reshape(s, n_keys, per_word)
    shifts = (np.arange(per_word - 1, -1, -1, dtype=np.uint64) * np.uint64(bits))[None, None, :]
    return np.bitwise_or.reduce(cells << shifts, axis=2).T  # [K, S]


def _edges(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(parent, token, child) of every edge of the sorted unique rows, and the node count, in
    ascending (parent, token) order.

    Row i's prefix of depth d is a new node exactly when the row first differs from row i - 1 at
    a column <= d; otherwise it is row i - 1's node at that depth. Nodes are numbered depth by
    depth, in row order within a depth, and the edges come out in that same order: parents never
    decrease (a depth's parents are the previous depth's nodes, met in row order), and edges
    under one parent are adjacent rows of the sorted set, so their tokens ascend.
    """
    s, width = rows.shape
    first_diff = np.zeros(s, dtype=np.int64)
    if s > 1:
        first_diff[1:] = (rows[1:] != rows[:-1]).argmax(axis=1)
    valid = rows != PAD  # [S, L]
    new = valid & (first_diff[:, None] <= np.arange(width)[None, :])  # [S, L]
    new[0] = valid[0]
    # number new prefixes depth by depth (column-major), 1.. (0 is the root)
    order = np.cumsum(new.T.ravel()).reshape(width, s).T  # [S, L]
    ids = np.where(new, order, 0)
    # a non-new valid cell is the row above's node: forward-fill down each column
    src = np.where(new, np.arange(s)[:, None], 0)
    np.maximum.accumulate(src, axis=0, out=src)
    node = ids[src, np.arange(width)[None, :]]  # [S, L]
    parent = np.zeros_like(node)
    parent[:, 1:] = node[:, :-1]
    new_t = new.T  # column-major: depth by depth
    return parent.T[new_t], rows.T[new_t], node.T[new_t], int(new.sum()) + 1
