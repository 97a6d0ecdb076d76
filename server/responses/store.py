"""Stored responses in SQLite: one row per response (its object and its whole input).

Each row's `input_items` is the complete input the model saw (a replayed conversation included,
instructions excluded), so continuing a conversation reads one row: its input items followed by
its output items. The file opens lazily (first use; nothing is created by building the app), in
WAL mode with a busy timeout; every call runs off the event loop (`asyncio.to_thread`) under one
lock. The schema is versioned (`schema_version`) and migrated forward on open; a file written by
a newer version is refused.

SQLite needs a local filesystem: one gateway replica per database file (docs/responses.md).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Forward migrations: MIGRATIONS[i] brings a database from version i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL,
            model TEXT NOT NULL,
            response TEXT NOT NULL,
            input_items TEXT NOT NULL
        )""",
    ),
    ("CREATE INDEX responses_created_at ON responses (created_at)",),
)


@dataclass(frozen=True)
class StoredResponse:
    """One stored response: its object and the whole input it was generated from."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]]

    def conversation(self) -> list[dict[str, Any]]:
        """The items a continuation replays: this response's input, then its output."""
        return [*self.input_items, *self.response.get("output", [])]


class ResponseStore:
    """Stored responses in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        migrations: tuple[tuple[str, ...], ...] = MIGRATIONS,
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.migrations = migrations
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            use_wal(conn, self.busy_timeout_ms)
            try:
                migrate(conn, self.migrations)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def schema_version(self) -> int:
        """The database's schema version (opening, and so migrating, it if needed)."""
        with self._lock:
            return current_version(self._connect())

    def put(self, response: dict[str, Any], input_items: list[dict[str, Any]]) -> None:
        """Store (or replace) a response and the input it was generated from."""
        row = (
            response["id"],
            int(response["created_at"]),
            str(response["model"]),
            json.dumps(response),
            json.dumps(input_items),
        )
        with self._lock:
            self._connect().execute(
                "INSERT OR REPLACE INTO responses (id, created_at, model, response, input_items)"
                " VALUES (?, ?, ?, ?, ?)",
                row,
            )

    def get(self, response_id: str) -> StoredResponse | None:
        """The stored response, or None when there is none with this id."""
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT response, input_items FROM responses WHERE id = ?", (response_id,))
                .fetchone()
            )
        if row is None:
            return None
        return StoredResponse(json.loads(row[0]), json.loads(row[1]))

    def delete(self, response_id: str) -> bool:
        """Delete a stored response; False when there was none."""
        with self._lock:
            cur = self._connect().execute("DELETE FROM responses WHERE id = ?", (response_id,))
        return cur.rowcount > 0

    def purge(self, retention_days: float, *, now: float | None = None) -> int:
        """Delete responses older than `retention_days` (0: keep all); returns how many.

        A database file that does not exist yet is left alone (nothing to purge).
        """
        if retention_days <= 0 or (self._conn is None and not self.path.exists()):
            return 0
        cutoff = (time.time() if now is None else now) - retention_days * 86400
        with self._lock:
            cur = self._connect().execute(
                "DELETE FROM responses WHERE created_at < ?", (int(cutoff),)
            )
        return cur.rowcount

    def close(self) -> None:
        """Close the connection (a later call opens it again)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aput(self, response: dict[str, Any], input_items: list[dict[str, Any]]) -> None:
        """`put`, off the event loop."""
        await asyncio.to_thread(self.put, response, input_items)

    async def aget(self, response_id: str) -> StoredResponse | None:
        """`get`, off the event loop."""
        return await asyncio.to_thread(self.get, response_id)

    async def adelete(self, response_id: str) -> bool:
        """`delete`, off the event loop."""
        return await asyncio.to_thread(self.delete, response_id)

    async def apurge(self, retention_days: float) -> int:
        """`purge`, off the event loop."""
        return await asyncio.to_thread(self.purge, retention_days)


def use_wal(conn: sqlite3.Connection, timeout_ms: int) -> None:
    """Switch the database to WAL, retrying while another connection holds it.

    SQLite answers "database is locked" at once to a journal-mode change while another
    connection has the file locked (its busy timeout does not apply to it): gateways or threads
    opening a new database together failed that way (1 in 20 with 8 openers). Once one of them
    has switched, the mode is stored in the file and the pragma no longer needs the lock.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in `conn` (0 for a new database)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: tuple[tuple[str, ...], ...]) -> int:
    """Apply the migrations the database lacks, each in its own transaction.

    Args:
        conn: an autocommit connection (`isolation_level=None`).
        migrations: MIGRATIONS[i] brings version i to i + 1.

    Returns:
        The version reached.

    Raises:
        RuntimeError: the database is newer than this gateway knows.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")  # another process migrating waits here (busy_timeout)
        try:
            version = current_version(conn)
            if version > len(migrations):
                raise RuntimeError(
                    f"responses database schema version {version} is newer than this "
                    f"gateway's ({len(migrations)}); upgrade the gateway or use another "
                    "--responses-db"
                )
            if version < len(migrations):
                for statement in migrations[version]:
                    conn.execute(statement)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if version >= len(migrations) - 1:
            return len(migrations)
