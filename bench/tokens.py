"""Token counting and exact-length prompt slicing for the workloads.

Uses the model's `tokenizer.json` through the `tokenizers` library (no torch). Without one, a
rough fallback counts a token per 4 characters, so the harness still runs against any endpoint;
the server's reported usage then gives the true lengths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def find_tokenizer_file(model: str, explicit: str | None = None) -> Path | None:
    """Locate a `tokenizer.json` for a served model.

    Args:
        model: the served model name, or a model folder.
        explicit: a tokenizer.json path or a folder holding one (`--tokenizer`).

    Returns:
        The file, or None when neither the given path, the model folder nor the structserve
        model cache (`$XDG_CACHE_HOME/structserve/models/<model>`) has one.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "structserve"
    candidates = [Path(explicit)] if explicit else [Path(model), cache / "models" / model]
    for path in candidates:
        file = path / "tokenizer.json" if path.is_dir() else path
        if file.name == "tokenizer.json" and file.is_file():
            return file
    return None


@dataclass
class TokenCounter:
    """Encodes and decodes text with a real tokenizer, or approximates without one.

    Attributes:
        tokenizer: a `tokenizers.Tokenizer`, or None for the 4-characters-a-token fallback.
        source: where the tokenizer came from ("approx" for the fallback).
    """

    tokenizer: Any = None
    source: str = "approx"

    @classmethod
    def load(cls, model: str, explicit: str | None = None) -> TokenCounter:
        """The model's tokenizer when one is found, else the fallback."""
        file = find_tokenizer_file(model, explicit)
        if file is None:
            return cls()
        from tokenizers import Tokenizer  # imported lazily: only benchmarks need it

        return cls(Tokenizer.from_file(str(file)), str(file))

    def encode(self, text: str) -> list[int]:
        """Token ids of text (no special tokens); the fallback returns one id per 4 chars."""
        if self.tokenizer is None:
            return list(range(0, len(text), 4))
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    def count(self, text: str) -> int:
        """Number of tokens in text."""
        return len(self.encode(text))

    def decode(self, ids: list[int], text: str) -> str:
        """Text of token ids that `encode(text)` produced (the fallback slices characters).

        Args:
            ids: a slice of `encode(text)`, possibly wrapped around its end.
            text: the text they were encoded from.

        Returns:
            The decoded text (re-tokenizing it may differ by a token or two).
        """
        if self.tokenizer is None:
            doubled = text + " " + text
            begin = ids[0] if ids else 0
            return doubled[begin : begin + 4 * len(ids)]
        decoded: str = self.tokenizer.decode(ids)
        return decoded
