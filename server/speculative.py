"""Speculative decoding settings -> vLLM's `--speculative-config`, and `--draft auto`.

`--draft PATH` serves with vLLM's `draft_model` method (the draft must share the target's
vocabulary: checked here, before the engine starts); `--draft auto` builds a pruned draft of
the served model once, in a child process (the gateway never imports torch), and caches it under
`<cache_dir>/drafts/<target hash>-<recipe hash>/`; `--speculative-method ngram` uses prompt
lookup instead. The resolved configuration is also shown in /v1/models metadata.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_loaders.checkpoint.vocab import DraftVocabularyError, check_same_vocabulary
from server.settings import Settings

log = logging.getLogger("structserve.speculative")

DRAFT_REPORT = "structserve-draft.json"  # written last by compress/draft.py: the draft is complete


class SpeculationError(RuntimeError):
    """Speculative decoding cannot be configured (bad draft, failed build, conflicting args)."""


@dataclass(frozen=True)
class Speculation:
    """The resolved speculative decoding of one engine (empty `config`: none)."""

    config: dict[str, Any] = field(default_factory=dict)
    draft_report: dict[str, Any] = field(default_factory=dict)

    def engine_args(self) -> list[str]:
        """vLLM arguments (`--speculative-config JSON`, or nothing)."""
        if not self.config:
            return []
        return ["--speculative-config", json.dumps(self.config, separators=(",", ":"))]

    def card_extra(self) -> dict[str, Any]:
        """What /v1/models shows under `structserve.speculative` (None: no speculation)."""
        if not self.config:
            return {"speculative": None}
        info: dict[str, Any] = dict(self.config)
        keys = ("method", "kept_layers", "draft_bytes", "target_bytes", "distill", "compress")
        if self.draft_report:
            info["draft"] = {k: self.draft_report[k] for k in keys if k in self.draft_report}
        return {"speculative": info}


def target_hash(folder: Path) -> str:
    """sha256 over the target's config.json and weight files (names, sizes and bytes)."""
    digest = hashlib.sha256()
    files = [folder / "config.json", *sorted(folder.glob("*.safetensors"))]
    for path in files:
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def auto_draft_dir(settings: Settings, target: Path) -> Path:
    """Cache folder of the automatic draft for `target` and the configured recipe."""
    recipe = hashlib.sha256(settings.draft_auto_args.encode()).hexdigest()[:8]
    return Path(settings.cache_dir) / "drafts" / f"{target_hash(target)[:16]}-{recipe}"


def build_auto_draft(settings: Settings, target: Path) -> Path:
    """The cached automatic draft of `target`, built first (child process) when missing."""
    out = auto_draft_dir(settings, target)
    if (out / DRAFT_REPORT).is_file():
        log.info("using cached draft %s", out)
        return out
    python = settings.engine_python or sys.executable
    cmd = [python, "-m", "compress.draft", "--model", str(target), "--out", str(out)]
    cmd += shlex.split(settings.draft_auto_args)
    log.info("building a draft of %s: %s", target, shlex.join(cmd))
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not (out / DRAFT_REPORT).is_file():
        raise SpeculationError(f"building the draft failed (exit {proc.returncode}): {cmd}")
    return out


def _read_report(draft: Path) -> dict[str, Any]:
    path = draft / DRAFT_REPORT
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def resolve_speculation(settings: Settings, target: Path) -> Speculation:
    """Turn the settings into the engine's speculative config (building an auto draft).

    Args:
        settings: validated settings (`draft`, `speculative_method`, ...).
        target: the served model's folder.

    Returns:
        The Speculation (empty when speculation is off).

    Raises:
        SpeculationError: a draft with another vocabulary, a missing draft, a failed build, or
            `--speculative-config` also given verbatim to vLLM.
    """
    method = settings.speculative_method or ("draft_model" if settings.draft else None)
    if method is None:
        return Speculation()
    if any(a.split("=")[0] == "--speculative-config" for a in settings.engine_args):
        raise SpeculationError("give speculation either as settings or as vLLM args, not both")
    k = settings.num_speculative_tokens
    if method == "ngram":
        if settings.ngram_prompt_lookup_min > settings.ngram_prompt_lookup_max:
            raise SpeculationError("ngram_prompt_lookup_min must be <= ngram_prompt_lookup_max")
        config = {
            "method": "ngram",
            "num_speculative_tokens": k,
            "prompt_lookup_max": settings.ngram_prompt_lookup_max,
            "prompt_lookup_min": settings.ngram_prompt_lookup_min,
        }
        return Speculation(config)
    if not settings.draft:
        raise SpeculationError("--speculative-method draft_model needs --draft PATH|auto")
    if settings.draft == "auto":
        draft = build_auto_draft(settings, target)
    else:
        draft = Path(settings.draft).expanduser().resolve()
    try:
        check_same_vocabulary(target, draft)
    except (DraftVocabularyError, FileNotFoundError) as exc:
        raise SpeculationError(str(exc)) from exc
    config = {"method": "draft_model", "model": str(draft), "num_speculative_tokens": k}
    return Speculation(config, _read_report(draft))
