"""Token ids to the text they add, incrementally, and closing texts to token ids.

A byte-level BPE token stands for exact bytes (its vocabulary string through GPT-2's byte map),
so the text an output adds is known token by token without decoding the whole output again; a
token that ends inside a UTF-8 character leaves its bytes pending until the character completes.
Other tokenizers decode each token on its own (exact for the byte-fallback and WordPiece
vocabularies this module is used with only when `round_trips` holds for the closing).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tokenizers import Tokenizer, decoders

from choice_sets.joined_encode import byte_alphabet
from choice_sets.tokenizer import ModelTokenizer

ENCODED = 4096  # closings whose tokens are kept


class TokenText:
    """The bytes of each token of one tokenizer, and encoding of closing texts."""

    def __init__(self, tokenizer: Tokenizer, end_token: int) -> None:
        self.tokenizer = tokenizer
        self.end_token = end_token
        self.byte_level = isinstance(tokenizer.decoder, decoders.ByteLevel)
        self._encoded: dict[str, list[int]] = {}  # insertion order: the oldest goes first

    @classmethod
    def of(cls, model: ModelTokenizer) -> TokenText:
        """The model's tokenizer and the end token vLLM stops on."""
        return cls(model.tokenizer, model.end_token)

    @cached_property
    def _bytes_of(self) -> dict[str, bytes]:
        table = {char: bytes([byte]) for byte, char in enumerate(byte_alphabet())}
        return table

    def token_bytes(self, token: int) -> bytes:
        """The bytes `token` adds to the output (b"" for special tokens)."""
        if token in self._special:
            return b""
        piece = self.tokenizer.id_to_token(token)
        if piece is None:
            return b""
        if self.byte_level:
            table = self._bytes_of
            return b"".join(table.get(char, char.encode()) for char in piece)
        return self.tokenizer.decode([token], skip_special_tokens=True).encode()

    @cached_property
    def _special(self) -> frozenset[int]:
        return frozenset(self.tokenizer.get_added_tokens_decoder())

    def encode(self, text: str) -> list[int]:
        """`text`'s tokens as the tokenizer writes it alone (no special tokens); the same few
        closings are encoded step after step, so the last ENCODED are kept."""
        ids = self._encoded.get(text)
        if ids is None:
            ids = list(self.tokenizer.encode(text, add_special_tokens=False).ids)
            if len(self._encoded) >= ENCODED:
                self._encoded.pop(next(iter(self._encoded)))
            self._encoded[text] = ids
        return list(ids)

    def round_trips(self, text: str, ids: list[int]) -> bool:
        """Whether `ids` add exactly `text`'s bytes (so forcing them writes `text`)."""
        return b"".join(self.token_bytes(t) for t in ids) == text.encode()


@dataclass
class TextFeed:
    """Output text so far, fed token by token (UTF-8 characters split across tokens wait)."""

    text: list[str] = field(default_factory=list)
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

    def add(self, data: bytes) -> str:
        """Append a token's bytes; returns the characters they complete."""
        chars: str = self._decoder.decode(data)
        if chars:
            self.text.append(chars)
        return chars

    def peek(self, data: bytes) -> tuple[str, bool]:
        """What `add(data)` would return, and whether a character would then be pending,
        without changing this feed."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        decoder.setstate(self._decoder.getstate())
        chars: str = decoder.decode(data)
        return chars, bool(decoder.getstate()[0])

    @property
    def pending(self) -> bool:
        """Whether a character is incomplete (its first bytes are in, the rest are not)."""
        return bool(self._decoder.getstate()[0])

    def joined(self) -> str:
        """The whole text so far (complete characters)."""
        if len(self.text) > 1:
            self.text[:] = ["".join(self.text)]
        return self.text[0] if self.text else ""
