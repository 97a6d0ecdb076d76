"""`structserve inspect PATH`: per-layer format, params, bytes and ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_loaders.checkpoint.describe import layer_rows, main
from model_loaders.checkpoint.specs import Format
from tests.unit.model_loaders.conftest import layer_name


def test_rows_per_layer(mixed_dir: Path) -> None:
    rows = {r.layer: r for r in layer_rows(mixed_dir)}
    s24 = rows[layer_name(Format.SPARSE24)]
    assert s24.format == "sparse24"
    assert s24.params == 64 * 16 + 64 * 4
    assert s24.ratio == pytest.approx((64 * 16 * 2 + 64 * 4) / (64 * 32 * 2), abs=1e-4)
    assert rows["model.embed_tokens"].format == "dense" and rows["model.embed_tokens"].ratio == 1.0


def test_cli_table_and_json(mixed_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(mixed_dir)]) == 0
    out = capsys.readouterr().out
    assert "dictsparse" in out and "total: format=mixed" in out
    assert main([str(mixed_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["format"] == "mixed" and len(data["layers"]) == 7


def test_cli_reports_bad_checkpoint(mixed_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (mixed_dir / "model.safetensors").write_bytes(b"\x00" * 4)
    assert main([str(mixed_dir)]) == 1
    assert "truncated" in capsys.readouterr().err
