"""The Responses settings: where the DB lives, retention bounds, and the CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.cli_args import build_parser, cli_values
from server.settings import Settings


def test_db_defaults_under_cache_dir_and_can_move(tmp_path: Path) -> None:
    assert Settings(cache_dir=tmp_path).responses_db_path() == tmp_path / "responses.sqlite"
    moved = Settings(cache_dir=tmp_path, responses_db=tmp_path / "x" / "r.db")
    assert moved.responses_db_path() == tmp_path / "x" / "r.db"


def test_retention_is_not_negative() -> None:
    assert Settings(responses_retention_days=0).responses_retention_days == 0
    with pytest.raises(ValidationError):
        Settings(responses_retention_days=-1)


def test_flags_reach_the_settings(tmp_path: Path) -> None:
    args = ["--responses-db", str(tmp_path / "r.sqlite"), "--responses-retention-days", "7"]
    values = cli_values(build_parser().parse_args(args), [])
    settings = Settings(**values)
    assert settings.responses_db_path() == tmp_path / "r.sqlite"
    assert settings.responses_retention_days == 7
    assert "--responses-db" in build_parser().format_help()
