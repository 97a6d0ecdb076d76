"""The engine side of choice sets: a vLLM logits processor (vLLM's documented seam for
per-request logits processing, installed through the `vllm.logits_processors` entry point).

A request names a stored trie in `SamplingParams.extra_args["structserve_choice_set"]` (the
gateway sets it through the OpenAI server's `vllm_xargs`): a path relative to the choice-set
store, `$STRUCTSERVE_CHOICE_SETS_DIR`. Each step, the rows of one trie get their next-token masks
in one batched call (`ChoiceTrie.next_tokens`, ids [B, K]) and every other token is set to -inf
(`keep_only`: fill the rows, put the kept logits back; no [B, V] mask); each
row first follows the tokens it produced since (`ChoiceTrie.advance`, batched per trie). The
output is therefore always one item of the set, token for token, ended by the end token.

The class implements both of vLLM 0.32's processor interfaces (`choice_sets.runner_rows`), over
one masking core. Tokens are followed when `apply` runs, so under
asynchronous scheduling the previous step's token is there: V1 fills its placeholder into the
output list right before sampling, V2 has committed it to `all_token_ids`.

Limits: speculative decoding (V1 loads no custom processor with it; under V2 a request has one
logits row per draft token, which this processor does not follow: it then leaves the batch
unconstrained and logs it; the gateway refuses choice sets for engines it starts speculating).
The GPU paths (V2, asynchronous scheduling) follow vLLM's documented interface but were not run
on a GPU here (docs/choice_sets.md).

Each step's masking time is recorded (`choice_sets.step_metrics`), on the engine's /metrics when
it runs with `PROMETHEUS_MULTIPROC_DIR`.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate

from choice_sets.arrays import TrieArrays
from choice_sets.logits_mask import keep_only
from choice_sets.runner_rows import RowLogitsProcessor
from choice_sets.step_metrics import mask_metrics
from choice_sets.store import DIR_ENV, XARG
from choice_sets.trie import ChoiceTrie

log = logging.getLogger("structserve.choice_sets")

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig

CACHED_TRIES = 8


def trie_path(reference: Any) -> Path:
    """The file a request's reference names, inside the store.

    Raises:
        ValueError: not a relative path to a compiled trie, the store is not configured, or
            the file does not exist (vLLM answers 400).
    """
    root = os.environ.get(DIR_ENV)
    if not root:
        raise ValueError(f"choice sets are not configured on this engine (set {DIR_ENV})")
    parts = PurePosixPath(str(reference)).parts
    if not parts or ".." in parts or PurePosixPath(str(reference)).is_absolute():
        raise ValueError(f"{XARG} must be a path inside the choice-set store")
    path = Path(root, *parts)
    if path.suffix != ".npz" or not path.is_file():
        raise ValueError(f"no compiled choice set {reference!r} in {root}")
    return path


@dataclass
class _Row:
    """One constrained request."""

    trie: ChoiceTrie
    output: list[int]  # its output tokens: V1's running list (a reference), or read under V2
    node: int = 0
    seen: int = 0  # output tokens already followed


class ChoiceSetLogitsProcessor(RowLogitsProcessor[_Row]):
    """Masks each constrained request's logits to the next tokens its choice set allows
    (both of vLLM's processor interfaces: `choice_sets.runner_rows`)."""

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        """400 for a reference to a trie the engine cannot find."""
        reference = (sampling_params.extra_args or {}).get(XARG)
        if reference is not None:
            trie_path(reference)

    def __init__(self, vllm_config: VllmConfig, *runner_args: Any) -> None:
        super().__init__(vllm_config, *runner_args)
        self._tries: OrderedDict[Path, ChoiceTrie] = OrderedDict()

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        """Track added/removed/moved requests, then follow each row's new tokens."""
        super().update_state(batch_update)
        self._follow(self.rows.values())

    def _process(self, logits: torch.Tensor, rows: dict[int, _Row]) -> None:
        """Follow the rows' new tokens (async scheduling: placeholders filled by now), mask."""
        self._follow(rows.values())
        self._mask(logits, rows)

    # --- the masking core ---------------------------------------------------------------------

    def _follow(self, rows: Iterable[_Row]) -> None:
        """Move every row along the tokens it produced since it was last followed."""
        by_trie: dict[int, list[_Row]] = {}
        for row in rows:
            if len(row.output) > row.seen and row.output[row.seen] >= 0:
                by_trie.setdefault(id(row.trie), []).append(row)
        for group in by_trie.values():
            self._advance(group)

    def _mask(self, logits: torch.Tensor, rows: dict[int, _Row]) -> None:
        """Block, in `logits` rows (keys of `rows`), what each row's trie does not allow."""
        started = time.perf_counter()
        groups: dict[int, list[int]] = {}
        for index, row in rows.items():
            groups.setdefault(id(row.trie), []).append(index)
        for indices in groups.values():
            indices.sort()
            trie = rows[indices[0]].trie
            if trie.vocab_size > logits.shape[1]:  # built for another model: never crash
                log.error("choice set trie wider than the logits: rows left unconstrained")
                continue
            nodes = torch.tensor([rows[i].node for i in indices], dtype=torch.long)  # [b]
            keep_only(logits, indices, trie.next_tokens(nodes).to(logits.device))
        mask_metrics().observe(time.perf_counter() - started, len(rows))

    def _advance(self, rows: list[_Row]) -> None:
        """Move rows of one trie along their new tokens (one batched step per token)."""
        while rows:
            trie = rows[0].trie
            nodes = torch.tensor([r.node for r in rows], dtype=torch.long)  # [b]
            tokens = torch.tensor([r.output[r.seen] for r in rows], dtype=torch.long)  # [b]
            moved = trie.advance(nodes, tokens).tolist()
            for row, node in zip(rows, moved, strict=True):
                row.node = node if node >= 0 else row.node  # off the set: keep masking
                row.seen += 1
            rows = [r for r in rows if len(r.output) > r.seen and r.output[r.seen] >= 0]

    def _new_row(
        self, params: SamplingParams, _prompt: list[int] | None, output: list[int]
    ) -> _Row | None:
        reference = (params.extra_args or {}).get(XARG)
        if reference is None:
            return None
        try:
            return _Row(trie=self._trie(trie_path(reference)), output=output)
        except (OSError, ValueError, KeyError) as exc:
            # Gone since the frontend validated it (deleted meanwhile): never take the engine
            # down; the request runs unconstrained and the gateway's verdict reports it.
            log.error("choice set %s cannot be loaded, request unconstrained: %s", reference, exc)
            return None

    def _trie(self, path: Path) -> ChoiceTrie:
        """The trie at `path` (content-addressed: cached by path)."""
        trie = self._tries.get(path)
        if trie is None:
            trie = ChoiceTrie.from_arrays(TrieArrays.load(path))
            self._tries[path] = trie
            while len(self._tries) > CACHED_TRIES:
                self._tries.popitem(last=False)
        self._tries.move_to_end(path)
        return trie
