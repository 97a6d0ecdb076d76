"""Offline adapters over structured-output backends, for token-level checks.

Each adapter compiles a JSON schema the way the engine (or our gateway) would, and answers whether
a text, fed token by token, is accepted to the end. `structserve` = the gateway's strict policy
(rewrites, bounds) in front of llguidance; `llguidance` = vLLM's guidance backend as configured
(no free whitespace); `xgrammar` = vLLM's xgrammar backend (`any_whitespace=False`).

Tokens are the served model's (`Tokens.from_model`) or single bytes (`Tokens.bytes()`: no model
needed; the same language, since both backends accept any tokenization of a text).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grammar import llg
from server.structured import StructuredLimits, StructuredService

DEFAULT_MODEL = Path.home() / ".cache" / "structserve" / "models" / "smollm2-135m-instruct"


@dataclass
class Compiled:
    """A compile attempt: handle is None when the backend refused (error says why)."""

    handle: Any
    error: str | None
    ms: float


@dataclass
class Tokens:
    """An llguidance tokenizer and how to split text into its tokens."""

    tokenizer: Any
    model_dir: Path | None = None

    @classmethod
    def bytes(cls) -> Tokens:
        """The 257-token byte-level tokenizer (256 bytes + EOS)."""
        return cls(llg.byte_tokenizer())

    @classmethod
    def from_model(cls, model_dir: Path) -> Tokens:
        """The served model's tokenizer (its tokenizer.json and eos_token_id)."""
        from llguidance import LLTokenizer

        eos = json.loads((model_dir / "config.json").read_text()).get("eos_token_id", 2)
        text = (model_dir / "tokenizer.json").read_text()
        return cls(LLTokenizer(text, eos_token=eos), model_dir)

    def split(self, text: str) -> list[int]:
        """The token ids of `text`."""
        if self.model_dir is None:
            return list(text.encode("utf-8"))
        return list(self.tokenizer.tokenize_str(text))


class Backend:
    """Base adapter: `compile(schema)` and `accepts(compiled, text)`."""

    name = "base"

    def compile(self, schema: Any) -> Compiled:
        """Compile `schema`; a refusal (any exception) gives a handle of None."""
        start = time.perf_counter()
        try:
            handle, error = self._compile(schema), None
        except Exception as exc:  # any refusal by the backend counts as "not covered"
            handle, error = None, f"{type(exc).__name__}: {exc}"[:300]
        return Compiled(handle, error, 1000 * (time.perf_counter() - start))

    def _compile(self, schema: Any) -> Any:
        raise NotImplementedError

    def accepts(self, compiled: Compiled, text: str) -> bool:
        """Whether the grammar accepts `text` to completion (refused grammars accept nothing)."""
        raise NotImplementedError


class LLGuidance(Backend):
    """vLLM's guidance backend as the engine configures it."""

    name = "llguidance"

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    def _grammar(self, schema: Any) -> str:
        return llg.serialize("json", schema)

    def _compile(self, schema: Any) -> Any:
        from llguidance import LLMatcher

        grammar = self._grammar(schema)
        matcher = LLMatcher(self.tokens.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return grammar

    def accepts(self, compiled: Compiled, text: str) -> bool:
        """Feed `text` token by token; it must be accepted and end in an accepting state."""
        from llguidance import LLMatcher

        if compiled.handle is None:
            return False
        matcher = LLMatcher(self.tokens.tokenizer, compiled.handle, log_level=0)
        for token in self.tokens.split(text):
            if not matcher.consume_token(token):
                return False
        return matcher.is_accepting()


class StructServe(LLGuidance):
    """The gateway's strict policy (what it forwards) compiled by llguidance."""

    name = "structserve"

    def __init__(self, tokens: Tokens, limits: StructuredLimits | None = None) -> None:
        super().__init__(tokens)
        self.service = StructuredService(limits)

    def _grammar(self, schema: Any) -> str:
        spec = {"schema": schema, "strict": True}
        body = {"response_format": {"type": "json_schema", "json_schema": spec}}
        self.service.plan(body)  # raises InvalidRequest when the gateway refuses
        return llg.serialize("json", spec["schema"])


class XGrammar(Backend):
    """vLLM's xgrammar backend (strict mode, no free whitespace); needs the model's tokenizer."""

    name = "xgrammar"

    def __init__(self, model_dir: Path) -> None:
        import transformers
        import xgrammar

        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        info = xgrammar.TokenizerInfo.from_huggingface(self.tokenizer)
        self.compiler = xgrammar.GrammarCompiler(info, max_threads=1)

    def _compile(self, schema: Any) -> Any:
        return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)

    def accepts(self, compiled: Compiled, text: str) -> bool:
        """Feed the model's tokens of `text`, then EOS; the matcher must terminate."""
        import xgrammar

        if compiled.handle is None:
            return False
        matcher = xgrammar.GrammarMatcher(compiled.handle)
        for token in self.tokenizer.encode(text, add_special_tokens=False):
            if not matcher.accept_token(token):
                return False
        return bool(matcher.accept_token(self.tokenizer.eos_token_id) and matcher.is_terminated())


def make(
    name: str, model_dir: Path | None = DEFAULT_MODEL, limits: StructuredLimits | None = None
) -> Backend:
    """Build an adapter by name; `model_dir` None feeds bytes instead of the model's tokens.

    Args:
        name: "structserve", "llguidance" or "xgrammar" (the last needs `model_dir`).
        model_dir: the served model's folder (tokenizer), or None for byte-level tokens.
        limits: the gateway limits for "structserve" (the shipped defaults when None).
    """
    if name == "xgrammar":
        if model_dir is None:
            raise ValueError("xgrammar needs the model's tokenizer (--model-dir)")
        return XGrammar(model_dir)
    tokens = Tokens.bytes() if model_dir is None else Tokens.from_model(model_dir)
    if name == "structserve":
        return StructServe(tokens, limits)
    if name == "llguidance":
        return LLGuidance(tokens)
    raise ValueError(f"unknown backend {name!r}")
