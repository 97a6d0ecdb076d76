"""Offline adapters over the structured-output backends, for coverage and token-level checks.

Each adapter compiles a JSON schema the way the engine (or our gateway) would, and answers
whether a text, fed token by token with the served model's tokenizer, is accepted to the end.
`structserve` = our gateway's strict policy in front of llguidance; `llguidance` = vLLM's
guidance backend as configured (no free whitespace); `xgrammar` = vLLM's xgrammar backend
(`any_whitespace=False`, strict mode); `outlines` = outlines-core's schema→regex (compile only).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL = Path.home() / ".cache" / "structserve" / "models" / "smollm2-135m-instruct"


@dataclass
class Compiled:
    """A compile attempt: handle is None when the backend refused (error says why)."""

    handle: Any
    error: str | None
    ms: float


class Backend:
    """Base adapter: `compile(schema)` and `accepts(compiled, text)`."""

    name = "base"

    def compile(self, schema: Any) -> Compiled:
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
    name = "llguidance"

    def __init__(self, model_dir: Path) -> None:
        from llguidance import LLTokenizer

        eos = json.loads((model_dir / "config.json").read_text()).get("eos_token_id", 2)
        self.tok = LLTokenizer((model_dir / "tokenizer.json").read_text(), eos_token=eos)

    def _grammar(self, schema: Any) -> str:
        from server.structured import llg

        return llg.serialize("json", schema)

    def _compile(self, schema: Any) -> Any:
        from llguidance import LLMatcher

        grammar = self._grammar(schema)
        matcher = LLMatcher(self.tok, grammar, log_level=0)
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return grammar

    def accepts(self, compiled: Compiled, text: str) -> bool:
        from llguidance import LLMatcher

        if compiled.handle is None:
            return False
        matcher = LLMatcher(self.tok, compiled.handle, log_level=0)
        for token in self.tok.tokenize_str(text):
            if not matcher.consume_token(token):
                return False
        return matcher.is_accepting()


class StructServe(LLGuidance):
    name = "structserve"

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        from server.structured import StructuredService

        self.service = StructuredService()

    def _grammar(self, schema: Any) -> str:
        from server.structured import llg

        body = {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
        body["response_format"]["json_schema"]["strict"] = True
        self.service.plan(body)  # raises InvalidRequest when the gateway refuses
        return llg.serialize("json", body["response_format"]["json_schema"]["schema"])


class XGrammar(Backend):
    name = "xgrammar"

    def __init__(self, model_dir: Path) -> None:
        import transformers
        import xgrammar

        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer = tokenizer
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
        self.compiler = xgrammar.GrammarCompiler(info, max_threads=1)

    def _compile(self, schema: Any) -> Any:
        return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)

    def accepts(self, compiled: Compiled, text: str) -> bool:
        import xgrammar

        if compiled.handle is None:
            return False
        matcher = xgrammar.GrammarMatcher(compiled.handle)
        for token in self.tokenizer.encode(text, add_special_tokens=False):
            if not matcher.accept_token(token):
                return False
        return bool(matcher.accept_token(self.tokenizer.eos_token_id) and matcher.is_terminated())


class Outlines(Backend):
    name = "outlines"

    def _compile(self, schema: Any) -> Any:
        from outlines_core.json_schema import build_regex_from_schema

        return build_regex_from_schema(json.dumps(schema))

    def accepts(self, compiled: Compiled, text: str) -> bool:
        import re

        return compiled.handle is not None and re.fullmatch(compiled.handle, text) is not None


def make(name: str, model_dir: Path = DEFAULT_MODEL) -> Backend:
    """Build an adapter by name."""
    if name == "outlines":
        return Outlines()
    table: dict[str, type[LLGuidance] | type[XGrammar]] = {
        "llguidance": LLGuidance,
        "structserve": StructServe,
        "xgrammar": XGrammar,
    }
    return table[name](model_dir)
