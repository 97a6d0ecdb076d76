"""A model's tokenizer as choice sets need it, without torch or transformers: the fast
tokenizer file (`tokenizer.json`, the `tokenizers` package), the vocabulary size the engine's
logits have, and the end token vLLM stops on.

Items are tokenized canonically (`encode` without special tokens, as the model's tokenizer would
tokenize the item on its own). An item whose tokens do not decode back to the same text (one
containing a special token's text, or text the tokenizer normalizes) could never be produced
exactly, so it is refused (`NonCanonicalItemsError`) instead of silently changed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from choice_sets.joined_encode import JoinPlan, encode_joined, join_plan, joinable

ENCODE_CHUNK = 1 << 16


class TokenizerUnavailableError(ValueError):
    """The folder has no usable tokenizer.json / config.json."""


class NonCanonicalItemsError(ValueError):
    """Items whose canonical tokens do not decode back to the item."""

    def __init__(self, items: list[str]) -> None:
        shown = ", ".join(json.dumps(item) for item in items[:5])
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        super().__init__(
            f"{len(items)} item(s) do not survive the tokenizer's round trip (they contain a "
            f"special token's text or text the tokenizer normalizes): {shown}{more}"
        )
        self.items = items


@dataclass(frozen=True)
class ModelTokenizer:
    """The tokenizer of one HF model folder."""

    folder: Path
    join_items: bool = True
    """Tokenize large sets joined where exact (`joined_encode`); False: item by item."""

    @classmethod
    def open(cls, folder: Path, *, join_items: bool = True) -> ModelTokenizer:
        """Check the folder has what choice sets need.

        Raises:
            TokenizerUnavailableError: no tokenizer.json or no vocabulary size / EOS in config.
        """
        tok = cls(Path(folder), join_items)
        if not (tok.folder / "tokenizer.json").is_file():
            raise TokenizerUnavailableError(f"{folder} has no tokenizer.json (a fast tokenizer)")
        _ = tok.vocab_size, tok.end_token
        return tok

    @cached_property
    def _config(self) -> dict[str, Any]:
        return _read_json(self.folder / "config.json")

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The fast tokenizer."""
        return Tokenizer.from_file(str(self.folder / "tokenizer.json"))

    @cached_property
    def vocab_size(self) -> int:
        """Width of the engine's logits: the model config's `vocab_size`."""
        config = self._config.get("text_config", self._config)
        size = config.get("vocab_size")
        if not isinstance(size, int) or size <= 0:
            raise TokenizerUnavailableError(f"{self.folder}/config.json has no vocab_size")
        return size

    @cached_property
    def end_token(self) -> int:
        """The token that ends an item: generation_config's first `eos_token_id`, else the
        model config's (vLLM stops on it)."""
        generation = _read_json(self.folder / "generation_config.json", missing_ok=True)
        for source in (generation, self._config):
            eos = source.get("eos_token_id")
            if isinstance(eos, list) and eos:
                eos = eos[0]
            if isinstance(eos, int) and 0 <= eos < self.vocab_size:
                return eos
        raise TokenizerUnavailableError(f"{self.folder} names no eos_token_id")

    @cached_property
    def stop_marker(self) -> int | None:
        """A special token that is no end token (none of the configs' `eos_token_id`s), which a
        grammar never produces: a stop token that can mark how an answer ended (budget closing
        ends with it). None when the tokenizer has no such token."""
        ends: set[object] = {self.end_token}
        for source in (_read_json(self.folder / "generation_config.json", missing_ok=True),
                       self._config):  # fmt: skip
            eos = source.get("eos_token_id")
            ends.update(eos if isinstance(eos, list) else [eos])
        special = [
            token
            for token, added in self.tokenizer.get_added_tokens_decoder().items()
            if added.special and token not in ends and token < self.vocab_size
        ]
        return min(special, default=None)

    @cached_property
    def fingerprint(self) -> str:
        """16 hex digits over tokenizer.json, the vocabulary size and the end token: a compiled
        trie is valid for exactly the tokenizers with the same fingerprint."""
        digest = hashlib.sha256((self.folder / "tokenizer.json").read_bytes())
        digest.update(f"|{self.vocab_size}|{self.end_token}".encode())
        return digest.hexdigest()[:16]

    def encode(self, items: Sequence[str]) -> list[list[int]]:
        """Each item's canonical token ids (no special tokens added).

        Raises:
            NonCanonicalItemsError: items whose ids do not decode back to the item.
        """
        encodings = self.tokenizer.encode_batch(list(items), add_special_tokens=False)
        ids = [enc.ids for enc in encodings]
        bad = self._not_round_trip(items, ids)
        if bad:
            raise NonCanonicalItemsError(bad)
        return ids

    def encode_flat(
        self, items: Sequence[str], chunk: int = ENCODE_CHUNK
    ) -> tuple[np.ndarray, np.ndarray]:
        """`encode` for large sets: the ids laid end to end ([sum(lengths)] int32) and each
        item's length ([S] int64), tokenized `chunk` items at a time, so no Python list per item
        outlives its chunk (1M items: ~1M fewer live objects for the garbage collector). Where the
        tokenizer splits joined items as it splits each alone, 512 items go in one encoding
        (`joined_encode`).

        Raises:
            NonCanonicalItemsError: items whose ids do not decode back to the item.
        """
        flats: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        bad: list[str] = []
        for start in range(0, len(items), chunk):
            part = list(items[start : start + chunk])
            joined = None
            if self._join_plan is not None and joinable(part):
                joined = encode_joined(self.tokenizer, part, self._join_plan)
            if joined is None:
                joined = self._encode_each(part, bad)
            flats.append(joined[0])
            lengths.append(joined[1])
        if bad:
            raise NonCanonicalItemsError(bad)
        if not flats:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
        return np.concatenate(flats), np.concatenate(lengths)

    @cached_property
    def _join_plan(self) -> JoinPlan | None:
        """How items are tokenized joined (`joined_encode`); None: item by item."""
        if not self.join_items:
            return None
        return join_plan(_read_json(self.folder / "tokenizer.json"), self.tokenizer)

    def _encode_each(self, part: list[str], bad: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """([T] int32 ids, [S] int64 lengths) of `part`, one encoding per item; items that do
        not survive the round trip are appended to `bad`."""
        encodings = self.tokenizer.encode_batch_fast(part, add_special_tokens=False)
        ids = [enc.ids for enc in encodings]
        bad += self._not_round_trip(part, ids)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), np.int32, int(lengths.sum()))
        return flat, lengths

    def _not_round_trip(self, items: Sequence[str], ids: list[list[int]]) -> list[str]:
        """The items whose `ids` do not decode back to the item."""
        decoded = self.tokenizer.decode_batch(ids, skip_special_tokens=True)
        return [item for item, text in zip(items, decoded, strict=True) if text != item]


def _read_json(path: Path, *, missing_ok: bool = False) -> dict[str, Any]:
    if missing_ok and not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TokenizerUnavailableError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TokenizerUnavailableError(f"{path} is not a JSON object")
    return data
