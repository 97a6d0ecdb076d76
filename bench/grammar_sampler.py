"""Draw random texts from an llguidance grammar: a random walk over its byte-level masks.

Used to verify what the backend enforces (every sampled text must pass the gateway's validator)
and to collect instances of a schema. Not uniform over the language: a heuristic walk that
prefers printable ASCII and, past a soft length, closing characters and the end of text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from llguidance import LLMatcher, LLTokenizer

from grammar import llg

_CLOSERS = frozenset(b'"}]')


@dataclass(frozen=True)
class SampleConfig:
    """How the walk chooses bytes."""

    soft_len: int = 48
    """Past this many bytes, end or close whenever the grammar allows."""
    max_len: int = 2048
    """Give up (no sample) past this many bytes."""
    rare_weight: float = 0.05
    """Weight of a non-printable or non-ASCII byte relative to printable ASCII (1.0)."""


def _allowed(matcher: LLMatcher) -> np.ndarray:
    # (257,) token ids the grammar allows next: 256 bytes + EOS
    words = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)  # (36,) 9 little-endian u32
    bits = np.unpackbits(words, bitorder="little")
    return np.nonzero(bits[: llg.EOS + 1])[0]


def _choose(allowed: np.ndarray, length: int, rng: random.Random, cfg: SampleConfig) -> int:
    choices = [int(t) for t in allowed]
    if length >= cfg.soft_len:
        if llg.EOS in choices:
            return llg.EOS
        closing = [t for t in choices if t in _CLOSERS]
        if closing and rng.random() < 0.7:
            return rng.choice(closing)
    weights = [1.0 if 32 <= t < 127 else cfg.rare_weight for t in choices]
    if llg.EOS in choices:
        weights[choices.index(llg.EOS)] = 0.3 + length / max(cfg.soft_len, 1)
    return rng.choices(choices, weights)[0]


def sample(
    grammar: str,
    rng: random.Random,
    cfg: SampleConfig | None = None,
    tokenizer: LLTokenizer | None = None,
) -> str | None:
    """One random text the grammar accepts, or None when the walk failed (too long, dead end).

    Args:
        grammar: a serialized llguidance grammar (`grammar.llg.serialize`).
        rng: the random source (seed it for repeatable draws).
        cfg: walk settings (defaults when None).
        tokenizer: a byte-level tokenizer (`llg.byte_tokenizer()`; built when None).
    """
    cfg = cfg or SampleConfig()
    matcher = LLMatcher(tokenizer or llg.byte_tokenizer(), grammar, log_level=0)
    out = bytearray()
    while len(out) <= cfg.max_len and not matcher.is_error():
        allowed = _allowed(matcher)
        if len(allowed) == 0:
            return None
        token = _choose(allowed, len(out), rng, cfg)
        if token == llg.EOS:
            return out.decode("utf-8", errors="strict") if matcher.is_accepting() else None
        if not matcher.consume_token(token):
            return None
        out.append(token)
    return None


def samples(grammar: str, count: int, seed: int = 0, cfg: SampleConfig | None = None) -> list[str]:
    """Up to `count` distinct random texts of the grammar (fewer when walks fail)."""
    rng, tokenizer = random.Random(seed), llg.byte_tokenizer()
    found: dict[str, None] = {}
    for _ in range(count * 4):
        text = sample(grammar, rng, cfg, tokenizer)
        if text is not None:
            found.setdefault(text)
        if len(found) >= count:
            break
    return list(found)
