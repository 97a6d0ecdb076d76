"""A draft must speak its target's vocabulary: same token ids, same tokenizer, same specials.

Pure Python (json + hashlib): the gateway calls it before starting a speculative engine, so it
must never import torch. `check_same_vocabulary` raises `DraftVocabularyError`, naming what
differs, the expected (target) and the found (draft) value.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# tokenizer_config.json keys that change what ids mean or which ids end a sequence.
_SPECIAL_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token", "added_tokens_decoder")
# config.json keys that fix the id space of embeddings and lm_head.
_CONFIG_KEYS = ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id")


class DraftVocabularyError(ValueError):
    """The draft's vocabulary or tokenizer differs from the target's."""

    def __init__(self, what: str, *, expected: object, found: object, draft: Path) -> None:
        self.what, self.expected, self.found, self.draft = what, expected, found, Path(draft)
        super().__init__(
            f"draft {draft} does not share the target's vocabulary: {what} differs "
            f"(target: {_short(expected)}, draft: {_short(found)}); a draft must be built from "
            "the served model (structserve compress draft) or use exactly its tokenizer"
        )


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def tokenizer_fingerprint(folder: Path) -> dict[str, Any]:
    """What must agree between a draft and its target.

    Args:
        folder: an HF model folder (config.json, tokenizer.json, tokenizer_config.json).

    Returns:
        {"vocab_size", special-token ids, "tokenizer_sha256" (of the model/vocab/merges part of
        tokenizer.json), "added_tokens", special-token strings}; missing parts are None.
    """
    folder = Path(folder)
    config = _read_json(folder / "config.json")
    nested = config.get("text_config")
    text_config: dict[str, Any] = nested if isinstance(nested, dict) else {}
    fp: dict[str, Any] = {k: config.get(k, text_config.get(k)) for k in _CONFIG_KEYS}
    tok = _read_json(folder / "tokenizer.json")
    if tok:
        core = {k: tok.get(k) for k in ("model", "normalizer", "pre_tokenizer", "decoder")}
        blob = json.dumps(core, sort_keys=True, ensure_ascii=False).encode()
        fp["tokenizer_sha256"] = hashlib.sha256(blob).hexdigest()
        added = tok.get("added_tokens") or []
        fp["added_tokens"] = sorted((int(t["id"]), str(t["content"])) for t in added)
    else:
        fp["tokenizer_sha256"] = None
        fp["added_tokens"] = None
    tcfg = _read_json(folder / "tokenizer_config.json")
    for key in _SPECIAL_KEYS:
        value = tcfg.get(key)
        fp[f"tokenizer_config.{key}"] = json.dumps(value, sort_keys=True) if value else None
    return fp


def check_same_vocabulary(target: Path, draft: Path) -> None:
    """Raise unless `draft` has exactly `target`'s vocabulary and tokenizer.

    Args:
        target: the served model's HF folder.
        draft: the draft's HF folder.

    Raises:
        DraftVocabularyError: naming the first differing part (vocab_size, tokenizer.json, a
            special token, ...). A part missing on both sides counts as equal.
        FileNotFoundError: `draft` has no config.json.
    """
    draft = Path(draft)
    if not (draft / "config.json").is_file():
        raise FileNotFoundError(f"draft {draft}: no config.json (not an HF model folder)")
    want, got = tokenizer_fingerprint(Path(target)), tokenizer_fingerprint(draft)
    if want["tokenizer_sha256"] is not None and got["tokenizer_sha256"] is None:
        raise DraftVocabularyError(
            "tokenizer.json", expected="present", found="missing", draft=draft
        )
    for key, value in want.items():
        if got.get(key) != value:
            raise DraftVocabularyError(key, expected=value, found=got.get(key), draft=draft)
