"""Tokenizing a large set in few calls: items joined by newlines, one encoding per group.

For a byte-level BPE tokenizer with GPT-2's pre-tokenizer regex (SmolLM2, GPT-2 and their
kin), the regex never joins a newline with a neighbouring non-space character, and BPE merges
stay inside a pre-token, so the tokens of `"a\\nb\\n"` are exactly `tokens(a) + [NL] + tokens(b)
+ [NL]` when no item holds a newline or begins or ends with whitespace. One encoding of 512
items costs far less than 512 encodings (the per-item cost is the tokenizer's per-call work and
the Python object of each result).

The tokens of such a tokenizer decode back to the text by construction, so no group is decoded
to check it: the ByteLevel pre-tokenizer spells each byte as one alphabet character, every BPE
token is a run of those characters, and the ByteLevel decoder spells them back. Only two things
break that, and both are checked: an added token (matched on the raw text before the
pre-tokenizer; a special one is dropped by decoding), and a byte whose alphabet character is not
in the vocabulary (BPE drops it: SmolLM2 lacks six ASCII control bytes and the lead bytes
of some 4-byte characters). A group with either is
refused (None) and the caller tokenizes item by item, decoding each to find the bad ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tokenizers import Tokenizer

GROUP = 512  # items per joined text


@dataclass(frozen=True)
class JoinPlan:
    """What joined tokenization needs to know about one tokenizer."""

    newline: int
    """The newline's token id."""
    added: np.ndarray
    """[A] sorted int32: ids of added tokens (special or not); a group holding one is refused."""
    dropped: bytes
    """The byte values whose alphabet character the vocabulary lacks (BPE drops them); a group
    whose UTF-8 holds one is refused."""


def byte_alphabet() -> list[str]:
    """The ByteLevel pre-tokenizer's character for each byte value 0..255 (GPT-2's map:
    printable Latin-1 bytes stand for themselves, the others for code points from 256 up)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for byte in range(256):
        if byte not in chars:
            chars[byte] = chr(256 + extra)
            extra += 1
    return [chars[byte] for byte in range(256)]


def join_plan(config: dict[str, Any], tokenizer: Tokenizer) -> JoinPlan | None:
    """How to join items for this tokenizer (its tokenizer.json `config`), or None when joined
    items would not split exactly as each item alone, or their tokens would not provably decode
    back to the text."""
    if not _byte_level_bpe(config):
        return None
    ids = tokenizer.encode("\n", add_special_tokens=False).ids
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    if len(ids) != 1:
        return None
    missing = bytes(b for b, char in enumerate(byte_alphabet()) if char not in vocab)
    added = np.array(sorted(tokenizer.get_added_tokens_decoder()), dtype=np.int32)
    return JoinPlan(newline=ids[0], added=added, dropped=missing)


def _byte_level_bpe(config: dict[str, Any]) -> bool:
    """GPT-2-style byte-level BPE with nothing that changes the text or the split."""
    pre = config.get("pre_tokenizer") or {}
    model = config.get("model") or {}
    decoder = config.get("decoder") or {}
    return (
        config.get("normalizer") is None
        and config.get("truncation") is None
        and config.get("padding") is None
        and pre.get("type") == "ByteLevel"
        and pre.get("add_prefix_space") is False
        and pre.get("use_regex") is True
        and model.get("type") == "BPE"
        and model.get("dropout") in (None, 0, 0.0)
        and not model.get("continuing_subword_prefix")
        and not model.get("end_of_word_suffix")
        and decoder.get("type") == "ByteLevel"
    )


def joinable(items: Sequence[str]) -> bool:
    """No item is empty, holds a newline, or begins or ends with whitespace (`str.isspace`, the
    same characters as `\\s`)."""
    return (
        bool(items)
        and all(items)
        and list(map(str.strip, items)) == list(items)
        and "\n".join(items).count("\n") == len(items) - 1
    )


def encode_joined(
    tokenizer: Tokenizer, items: Sequence[str], plan: JoinPlan, group: int = GROUP
) -> tuple[np.ndarray, np.ndarray] | None:
    """([sum(lengths)] int32 ids laid end to end, [S] int64 lengths) of `joinable` items, or
    None when a group fails its checks (an added token, a byte the vocabulary cannot spell, not
    one newline token per item)."""
    starts = range(0, len(items), group)
    texts = ["\n".join(items[i : i + group]) + "\n" for i in starts]
    for data in map(str.encode, texts):  # each group's UTF-8 once
        if any(byte in data for byte in plan.dropped):
            return None
    encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    parts = [np.asarray(enc.ids, dtype=np.int32) for enc in encodings]  # each [T_g + S_g]
    for part, start in zip(parts, starts, strict=True):
        if int((part == plan.newline).sum()) != min(group, len(items) - start):
            return None
    flat = np.concatenate(parts)  # [T + S]
    if np.isin(flat, plan.added).any():
        return None
    ends = np.flatnonzero(flat == plan.newline)  # [S]: each item's newline
    lengths = np.diff(ends, prepend=-1) - 1  # [S]
    return flat[flat != plan.newline], lengths.astype(np.int64)
