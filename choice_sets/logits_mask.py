"""Writing a choice set's constraint into the logits, in place (the engine's per-step pass).

Below the root a trie node allows a few tokens, so the rows are filled with -inf and the few
kept logits put back, instead of reading a [b, V] mask beside the [b, V] logits.
"""

from __future__ import annotations

import torch


def keep_only(logits: torch.Tensor, indices: list[int], tokens: torch.Tensor) -> None:
    """-inf, in place, on every column of rows `indices` (sorted) of `logits` [B, V'] except
    each row's `tokens` [b, K] (ids below V', repeats allowed), which keep their logits; other
    rows stay.

    Each contiguous run of rows (the usual batch is one) is a view: its kept logits are
    gathered ([r, K]), the rows filled with -inf (a write-only pass) and the kept logits
    scattered back. No [b, V] mask is built or read: 0.13 ms against 0.81 ms for
    `where(mask, x, -inf, out=x)` at [16, 49152] on this host (docs/benchmarks.md).
    """
    start = 0
    while start < len(indices):
        stop = start + 1
        while stop < len(indices) and indices[stop] == indices[stop - 1] + 1:
            stop += 1
        rows = logits[indices[start] : indices[start] + stop - start]  # [r, V'] view
        ids = tokens[start:stop]  # [r, K]
        kept = rows.gather(1, ids)  # [r, K]
        rows.fill_(float("-inf"))
        rows.scatter_(1, ids, kept)
        start = stop
