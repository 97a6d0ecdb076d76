"""llguidance, the engine's decoding backend, used in the gateway without torch: serialize a
request's constraint into the grammar the engine will build, compile it, and match finished text.

Text is fed byte by byte through a 257-token byte-level tokenizer (256 bytes + EOS), so the
gateway needs no model tokenizer and sees exactly the language the grammar defines.
"""

from __future__ import annotations

import json
from typing import Any, cast

import llguidance
from llguidance import LLMatcher, LLTokenizer

from choice_sets.joined_encode import byte_alphabet

JSON_DEFAULTS: dict[str, Any] = {"whitespace_flexible": False}
"""Compile options the engine uses too (`disable_any_whitespace`): compact JSON, no whitespace
loops. The gateway also writes them into each schema's `x-guidance`."""

EOS = 256


def byte_tokenizer() -> LLTokenizer:
    """A tokenizer whose tokens are the 256 bytes plus EOS (id 256)."""
    vocab = {char: byte for byte, char in enumerate(byte_alphabet())}
    vocab["<eos>"] = EOS
    level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}
    spec: dict[str, Any] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": EOS,
                "content": "<eos>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": {**level, "use_regex": False},
        "post_processor": None,
        "decoder": {**level, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "vocab": vocab, "merges": []},
    }
    return LLTokenizer(json.dumps(spec), eos_token=EOS)


def serialize(kind: str, spec: Any) -> str:
    """The llguidance grammar for one constraint, as vLLM's guidance backend builds it.

    Args:
        kind: "json" (spec: schema), "regex", "choice" (spec: list of str) or "grammar".
        spec: the constraint.

    Returns:
        The serialized llguidance grammar.
    """
    if kind == "json":
        return LLMatcher.grammar_from_json_schema(spec, defaults=cast(Any, JSON_DEFAULTS))
    if kind not in ("regex", "choice", "grammar"):
        raise ValueError(f"unknown constraint kind {kind!r}")
    return llguidance.grammar_from(kind, spec)  # type: ignore[arg-type]


def compile_grammar(tokenizer: LLTokenizer, kind: str, spec: Any) -> tuple[str | None, list[str]]:
    """Build the matcher the engine would build; returns (error or None, warnings)."""
    try:
        grammar = serialize(kind, spec)
    except (ValueError, TypeError, KeyError) as exc:
        return str(exc), []
    failed, messages = LLMatcher.validate_grammar_with_warnings(grammar, tokenizer)
    if failed:
        return "; ".join(messages) or "grammar rejected", []
    matcher = LLMatcher(tokenizer, grammar, log_level=0)
    if matcher.is_error():
        return matcher.get_error(), []
    return None, list(messages)


def match(tokenizer: LLTokenizer, kind: str, spec: Any, text: str) -> tuple[bool | None, str]:
    """Match `text` against the constraint's language, byte by byte.

    Returns:
        (True, "") for a complete sentence; (False, why) when a byte does not fit or the text
        ends early; (None, why) when the matcher itself failed (a grammar error, or a parser or
        lexer limit such as "Current row has 2001 items; max is 2000", which right-recursive or
        ambiguous grammars reach on long outputs): that says nothing about the text.
    """
    matcher = LLMatcher(tokenizer, serialize(kind, spec), log_level=0)
    data = list(text.encode("utf-8"))
    consumed = 0 if matcher.is_error() else matcher.try_consume_tokens(data)
    if matcher.is_error():  # try_consume_tokens stops before a byte that does not fit
        return None, "matcher error: " + matcher.get_error().split("\n", 1)[0][:300]
    if consumed < len(data):
        return False, f"byte {consumed} of the output does not fit the {kind}"
    if not matcher.is_accepting():
        return False, f"the output ends before the {kind} is complete"
    return True, ""


def matches(tokenizer: LLTokenizer, kind: str, spec: Any, text: str) -> bool:
    """Whether `text` is a complete sentence of the constraint's language (False when unsure)."""
    return match(tokenizer, kind, spec, text)[0] is True


class ByteGrammar:
    """One constraint compiled once over the byte tokenizer; each check runs on a copy of the
    pristine matcher (a compile is 2-60 ms on JSONSchemaBench schemas, a copy and match well
    under 1 ms)."""

    def __init__(self, kind: str, spec: Any) -> None:
        self._pristine = LLMatcher(byte_tokenizer(), serialize(kind, spec), log_level=0)

    def _fed(self, text: str) -> LLMatcher | None:
        """A copy of the matcher after `text`'s bytes; None when they do not all fit."""
        matcher = self._pristine.deep_copy()
        data = list(text.encode("utf-8"))
        consumed = 0 if matcher.is_error() else matcher.try_consume_tokens(data)
        return matcher if consumed == len(data) and not matcher.is_error() else None

    def matches(self, text: str) -> bool:
        """Whether `text` is a complete sentence of the constraint's language."""
        matcher = self._fed(text)
        return matcher is not None and matcher.is_accepting()

    def stops_after(self, text: str) -> bool:
        """Whether `text` is a complete sentence after which the grammar allows nothing more
        (llguidance's matcher is then stopped, and vLLM's guidance backend accepts any token)."""
        matcher = self._fed(text)
        return matcher is not None and matcher.is_stopped()
