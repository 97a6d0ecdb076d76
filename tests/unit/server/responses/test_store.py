"""The SQLite response store against temp files: put/get/delete, retention, migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from server.responses.store import MIGRATIONS, ResponseStore


def response(rid: str, created_at: int, text: str = "hi") -> dict[str, Any]:
    item = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return {
        "id": rid,
        "object": "response",
        "created_at": created_at,
        "model": "m",
        "output": [item],
    }


INPUT = [
    {
        "type": "message",
        "id": "msg_0",
        "role": "user",
        "content": [{"type": "input_text", "text": "q"}],
    }
]


def test_put_get_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.sqlite"
    store = ResponseStore(path)
    assert not path.exists()  # opened lazily
    assert store.get("resp_x") is None
    store.put(response("resp_a", int(time.time())), INPUT)
    store.close()
    again = ResponseStore(path)  # a restarted gateway reads what the last one wrote
    stored = again.get("resp_a")
    assert stored is not None and stored.input_items == INPUT
    assert stored.conversation() == [*INPUT, *stored.response["output"]]
    assert again.delete("resp_a") is True and again.delete("resp_a") is False
    assert again.get("resp_a") is None
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again.close()


def test_purge_by_age_and_zero_keeps(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.sqlite")
    now = 1_000_000_000
    store.put(response("resp_old", now - 3 * 86400), INPUT)
    store.put(response("resp_new", now - 3600), INPUT)
    assert store.purge(0, now=now) == 0
    assert store.purge(2, now=now) == 1
    assert store.get("resp_old") is None and store.get("resp_new") is not None
    store.close()


def test_purge_does_not_create_a_missing_file(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "none.sqlite")
    assert store.purge(1) == 0
    assert not (tmp_path / "none.sqlite").exists()


def test_migrates_forward_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    old = ResponseStore(path, migrations=MIGRATIONS[:1])
    assert old.schema_version() == 1
    old.put(response("resp_a", 5), INPUT)
    old.close()
    new = ResponseStore(path)
    assert new.schema_version() == len(MIGRATIONS) == 2
    assert new.get("resp_a") is not None
    indexes = sqlite3.connect(path).execute("PRAGMA index_list(responses)").fetchall()
    assert "responses_created_at" in {row[1] for row in indexes}
    new.close()


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    extra = (*MIGRATIONS, ("CREATE TABLE later (x INTEGER)",))
    newer = ResponseStore(path, migrations=extra)
    assert newer.schema_version() == 3
    newer.close()
    with pytest.raises(RuntimeError, match="newer than this gateway"):
        ResponseStore(path).get("resp_a")


def _open_one(store: ResponseStore, errors: list[BaseException]) -> None:
    try:
        store.put(response(f"resp_{id(store)}", 1), INPUT)
    except BaseException as exc:  # collected for the assertion in the test
        errors.append(exc)


def test_concurrent_openers_migrate_once(tmp_path: Path) -> None:
    """Openers racing on a new database (8 at a time, 60 databases): every one migrates or
    waits, none fails. SQLite refuses a journal-mode change at once while another connection
    holds the file (no busy timeout for it): 1 round in 20 failed before `use_wal` retried."""
    for round_ in range(60):
        path = tmp_path / f"r{round_}.sqlite"
        stores = [ResponseStore(path) for _ in range(8)]
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_open_one, args=(s, errors)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert all(s.schema_version() == 2 for s in stores)
        for s in stores:
            s.close()
