"""A prefix tree of allowed token sequences flattened into sorted edge arrays (STATIC-style).

Issue 18's mechanism: every allowed output is a token sequence (its canonical tokenization)
followed by an end token (EOS), so decoding stops exactly at an item. The tree is stored as
flat tensors, so one decoding step for a whole batch is a handful of vectorized ops instead of a
pointer walk per request:

* `edge_key [E]` int64, sorted: `parent · V + token` of every edge (V = vocabulary size);
* `edge_child [E]` int32: the node each edge leads to;
* `row_start [N + 1]` int64: node n's edges are `edge_key[row_start[n] : row_start[n + 1]]`
  (CSR rows; the root is node 0);
* `root_mask [V]` bool: the root's row as a dense table (the paper's dense first level: the root
  of a large set fans out to much of the vocabulary).

`allowed(nodes)` is the [B, V] mask of next tokens, `next_tokens(nodes)` the same as ids [B, K]
(what the engine uses: K is a few tokens below the root), `advance(nodes, tokens)` the next nodes
(a binary search in `edge_key`). The build is vectorized too (numpy): sort the padded sequences,
find where each row's prefix first differs from the previous row's, and number the new prefixes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from choice_sets.arrays import (
    EmptyChoiceSetError,
    TokenOutOfRangeError,
    TrieArrays,
    build_arrays,
)
from kernels import kernel

__all__ = ["ChoiceTrie", "EmptyChoiceSetError", "TokenOutOfRangeError", "pointer_trie"]


@dataclass(frozen=True)
class ChoiceTrie:
    """The flattened prefix tree of a choice set (module docstring)."""

    vocab_size: int
    end_token: int
    edge_key: torch.Tensor  # [E] int64, sorted
    edge_child: torch.Tensor  # [E] int32
    row_start: torch.Tensor  # [N + 1] int64
    root_mask: torch.Tensor  # [V] bool: the root's next tokens (a dense first level)
    items: int  # distinct sequences
    backend: str = "auto"  # kernels.kernel backend of the decoding step

    @property
    def nodes(self) -> int:
        """Nodes, the root included."""
        return int(self.row_start.numel()) - 1

    @property
    def nbytes(self) -> int:
        """Bytes of the flat tensors."""
        parts = (self.edge_key, self.edge_child, self.row_start, self.root_mask)
        return sum(t.numel() * t.element_size() for t in parts)

    @classmethod
    def build(
        cls,
        sequences: Sequence[Sequence[int]],
        vocab_size: int,
        end_token: int,
        backend: str = "auto",
    ) -> ChoiceTrie:
        """The trie of `sequences` (token ids, each gets `end_token` appended; duplicates count
        once); `backend` picks the decoding step's kernel (kernels.kernel).

        Raises:
            EmptyChoiceSetError: no sequences.
            TokenOutOfRangeError: a token id outside [0, vocab_size).
        """
        return cls.from_arrays(build_arrays(sequences, vocab_size, end_token), backend)

    @classmethod
    def from_arrays(cls, arrays: TrieArrays, backend: str = "auto") -> ChoiceTrie:
        """The trie over `arrays` (built by `build_arrays` or loaded from disk; shares memory)."""
        root_mask = torch.zeros(arrays.vocab_size, dtype=torch.bool)
        root_mask[torch.from_numpy(arrays.root_tokens())] = True
        return cls(
            vocab_size=arrays.vocab_size,
            end_token=arrays.end_token,
            edge_key=torch.from_numpy(arrays.edge_key),
            edge_child=torch.from_numpy(arrays.edge_child),
            row_start=torch.from_numpy(arrays.row_start),
            root_mask=root_mask,
            items=arrays.items,
            backend=backend,
        )

    def allowed(self, nodes: torch.Tensor) -> torch.Tensor:
        """Next-token mask [B, V] (bool) of `nodes` [B]; a leaf (an item ended) allows only the
        end token again. The root's row is a dense table (its fan-out can be the vocabulary)."""
        return self._mask_step(nodes)

    def next_tokens(self, nodes: torch.Tensor) -> torch.Tensor:
        """The next tokens [B, K] of `nodes` [B] as ids (K the batch's widest fan-out, a row's
        last token repeated to fill it); a leaf allows only the end token. The processor keeps
        these logits and blocks the rest without building a [B, V] mask."""
        return self._next_step(nodes)

    def advance(self, nodes: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The nodes [B] reached from `nodes` [B] by `tokens` [B]; -1 where a token is not an
        edge (never the case for tokens drawn from `allowed`), a leaf stays where it is."""
        return self._advance_step(torch.stack([nodes.long(), tokens.long()]))  # [2, B]

    @functools.cached_property
    def _mask_step(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The dispatcher's trie_mask kernel over this trie, chosen once (kernels/dispatch.py)."""
        return kernel("trie_mask", self.tensors(), backend=self.backend)

    @functools.cached_property
    def _next_step(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The dispatcher's trie_next kernel over this trie, chosen once."""
        return kernel("trie_next", self.tensors(), backend=self.backend)

    @functools.cached_property
    def _advance_step(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The dispatcher's trie_advance kernel over this trie, chosen once."""
        return kernel("trie_advance", self.tensors(), backend=self.backend)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The flat tensors by the dispatcher's names (kernels/dispatch.py, trie ops)."""
        return {
            "row_start": self.row_start,
            "edge_key": self.edge_key,
            "edge_child": self.edge_child,
            "root_mask": self.root_mask,
            "end": torch.tensor(self.end_token),
        }


def pointer_trie(sequences: Sequence[Sequence[int]], end_token: int) -> dict[int, Any]:
    """The reference: the same set as nested dicts (token -> child), each sequence ending with
    `end_token` (for tests and `structserve bench choice-trie`)."""
    root: dict[int, Any] = {}
    for seq in sequences:
        node = root
        for t in [*seq, end_token]:
            node = node.setdefault(t, {})
    return root
