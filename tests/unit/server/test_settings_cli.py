"""Settings precedence (flag > env > YAML > default), validation, and the generated --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.cli_args import build_parser, cli_values, split_engine_args
from server.settings import Settings, load_settings


def _parse(argv: list[str]) -> dict:
    ours, rest = split_engine_args(argv)
    return cli_values(build_parser().parse_args(ours), rest)


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("port: 7000\nmax-n: 3\nkv_cache_gb: 4\n")
    monkeypatch.setenv("STRUCTSERVE_PORT", "7100")
    monkeypatch.setenv("STRUCTSERVE_MAX_N", "5")
    s = load_settings(_parse(["--port", "7200"]), cfg)
    assert (s.port, s.max_n, s.kv_cache_gb) == (7200, 5, 4.0)
    assert s.host == "127.0.0.1"


def test_lists_from_env_flags_and_passthrough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRUCTSERVE_API_KEYS", "sk-first, sk-second")
    values = _parse(
        ["--engine-url", "http://x:1,http://y:2/", "--engine-args=--seed=1", "--", "--tp", "2"]
    )
    s = load_settings(values)
    assert s.engine_url == ["http://x:1", "http://y:2"]
    assert s.engine_args == ["--seed=1", "--tp", "2"]
    assert s.api_key_values() == ["sk-first", "sk-second"]
    assert "sk-first" not in repr(s)  # secrets never print


@pytest.mark.parametrize(
    "values",
    [{"port": "-1"}, {"engine_url": ["ftp://x"]}, {"nonsense": 1}, {"kv_cache_gb": 0}],
)
def test_invalid_settings_rejected(values: dict) -> None:
    with pytest.raises(ValidationError):
        load_settings(values)


def test_unknown_yaml_key_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("portt: 1\n")
    with pytest.raises(ValidationError):
        load_settings({}, cfg)


def test_help_documents_every_field() -> None:
    text = build_parser().format_help()
    for name, field in Settings.model_fields.items():
        assert "--" + name.replace("_", "-") in text
        assert field.description and field.description.split()[0] in text


def test_serve_rejects_bad_settings_without_starting() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "notaport"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "port" in proc.stderr


def test_serve_rejects_missing_model_folder(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--model", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "neither a catalog model" in proc.stderr


def test_gateway_never_imports_torch_or_vllm() -> None:
    code = (
        "import sys, server.serve, server.app, server.cli, server.models_cli;"
        "bad = [m for m in ('torch', 'vllm', 'transformers') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_engine_args_env_is_shell_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "STRUCTSERVE_ENGINE_ARGS", """--speculative-config '{"method": "ngram", "k": 3}' --seed 1"""
    )
    s = load_settings({})
    assert s.engine_args == ["--speculative-config", '{"method": "ngram", "k": 3}', "--seed", "1"]
