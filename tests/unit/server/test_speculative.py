"""Settings -> vLLM --speculative-config, /v1/models metadata, and the cached `auto` draft."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from server.cli_args import build_parser, cli_values, split_engine_args
from server.settings import load_settings
from server.speculative import (
    DRAFT_REPORT,
    SpeculationError,
    auto_draft_dir,
    resolve_speculation,
)
from tests.prereq import require_default_model

SIDE = ("tokenizer.json", "tokenizer_config.json")


def _target(tmp_path: Path) -> Path:
    """A target folder: the default model's config and tokenizer, a small fake weight file."""
    model = require_default_model()
    target = tmp_path / "target"
    target.mkdir()
    for name in ("config.json", *SIDE):
        shutil.copy2(model / name, target / name)
    (target / "model.safetensors").write_bytes(b"fake weights")
    return target


def _settings(argv: list[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    ours, passthrough = split_engine_args(argv)
    ns = build_parser().parse_args([*ours, "--cache-dir", str(tmp_path / "cache")])
    return load_settings(cli_values(ns, passthrough))


def test_off_by_default(tmp_path: Path) -> None:
    spec = resolve_speculation(_settings([], tmp_path), _target(tmp_path))
    assert spec.engine_args() == []
    assert spec.card_extra() == {"speculative": None}


def test_ngram(tmp_path: Path) -> None:
    argv = ["--speculative-method", "ngram", "--num-speculative-tokens", "4"]
    argv += ["--ngram-prompt-lookup-max", "5", "--ngram-prompt-lookup-min", "3"]
    spec = resolve_speculation(_settings(argv, tmp_path), _target(tmp_path))
    flag, value = spec.engine_args()
    assert flag == "--speculative-config"
    assert json.loads(value) == {
        "method": "ngram",
        "num_speculative_tokens": 4,
        "prompt_lookup_max": 5,
        "prompt_lookup_min": 3,
    }


def test_ngram_bounds_checked(tmp_path: Path) -> None:
    argv = ["--speculative-method", "ngram", "--ngram-prompt-lookup-max", "2"]
    argv += ["--ngram-prompt-lookup-min", "3"]
    with pytest.raises(SpeculationError, match="prompt_lookup_min"):
        resolve_speculation(_settings(argv, tmp_path), _target(tmp_path))


def test_draft_path(tmp_path: Path) -> None:
    target = _target(tmp_path)
    draft = tmp_path / "draft"
    shutil.copytree(target, draft)
    report = {"method": "layerdrop", "kept_layers": [0, 5], "draft_bytes": 10, "secret": 1}
    (draft / DRAFT_REPORT).write_text(json.dumps(report))
    spec = resolve_speculation(_settings(["--draft", str(draft)], tmp_path), target)
    config = json.loads(spec.engine_args()[1])
    assert config == {"method": "draft_model", "model": str(draft), "num_speculative_tokens": 3}
    extra = spec.card_extra()["speculative"]
    assert extra["draft"] == {"method": "layerdrop", "kept_layers": [0, 5], "draft_bytes": 10}
    assert extra["num_speculative_tokens"] == 3


def test_draft_model_needs_a_draft(tmp_path: Path) -> None:
    with pytest.raises(SpeculationError, match="needs --draft"):
        resolve_speculation(
            _settings(["--speculative-method", "draft_model"], tmp_path), _target(tmp_path)
        )


def test_verbatim_vllm_flag_conflicts(tmp_path: Path) -> None:
    argv = ["--speculative-method", "ngram", "--", "--speculative-config", "{}"]
    with pytest.raises(SpeculationError, match="not both"):
        resolve_speculation(_settings(argv, tmp_path), _target(tmp_path))


def test_unknown_method_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speculative_method"):
        _settings(["--speculative-method", "medusa"], tmp_path)


def test_auto_uses_the_cache(tmp_path: Path) -> None:
    target = _target(tmp_path)
    settings = _settings(["--draft", "auto", "--engine-python", "/bin/false"], tmp_path)
    cached = auto_draft_dir(settings, target)
    shutil.copytree(target, cached)
    (cached / DRAFT_REPORT).write_text("{}")
    spec = resolve_speculation(settings, target)  # /bin/false would fail a build
    assert json.loads(spec.engine_args()[1])["model"] == str(cached)


def test_auto_cache_key_follows_target_and_recipe(tmp_path: Path) -> None:
    target = _target(tmp_path)
    a = auto_draft_dir(_settings(["--draft", "auto"], tmp_path), target)
    b = auto_draft_dir(_settings(["--draft", "auto", "--draft-auto-args=--x"], tmp_path), target)
    (target / "model.safetensors").write_bytes(b"other weights")
    c = auto_draft_dir(_settings(["--draft", "auto"], tmp_path), target)
    assert len({a, b, c}) == 3
    assert a.parent == tmp_path / "cache" / "drafts"


def test_auto_builds_in_a_child_process(tmp_path: Path) -> None:
    """The builder runs as `python -m compress.draft ...`; a fake interpreter records it."""
    target = _target(tmp_path)
    fake = tmp_path / "fake_python"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib, shutil, sys\n"
        "args = sys.argv[1:]\n"
        "out = pathlib.Path(args[args.index('--out') + 1])\n"
        "model = pathlib.Path(args[args.index('--model') + 1])\n"
        "shutil.copytree(model, out)\n"
        "(out / 'structserve-draft.json').write_text(json.dumps({'argv': args}))\n"
    )
    fake.chmod(0o755)
    argv = ["--draft", "auto", "--engine-python", str(fake)]
    argv += ["--draft-auto-args=--method layerdrop --keep-layers 2"]
    settings = _settings(argv, tmp_path)
    spec = resolve_speculation(settings, target)
    out = Path(json.loads(spec.engine_args()[1])["model"])
    recorded = json.loads((out / DRAFT_REPORT).read_text())["argv"]
    assert recorded[:2] == ["-m", "compress.draft"]
    assert recorded[-4:] == ["--method", "layerdrop", "--keep-layers", "2"]


def test_auto_build_failure_is_a_clear_error(tmp_path: Path) -> None:
    settings = _settings(["--draft", "auto", "--engine-python", "/bin/false"], tmp_path)
    with pytest.raises(SpeculationError, match="building the draft failed"):
        resolve_speculation(settings, _target(tmp_path))
