"""The two databases the store runs on: an SQLite file (the embedded default) or PostgreSQL
(DATABASE_URL, when web replicas and workers on several machines share the state).

Both give the store the same three things: `execute` (SQL with `?` placeholders, one
statement, returning a DB-API cursor), `transaction` (a block of writes that see no other
writer: SQLite's BEGIN IMMEDIATE, or PostgreSQL's transaction-scoped advisory lock) and `create`
(the schema, written once for both). Every thread has its own connection.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

# The key of PostgreSQL's advisory lock that write transactions take: writers go one at a time,
# as SQLite's do, so annotation seqs commit in the order they are numbered.
WRITE_LOCK = 0x6D6C67656E  # "mlgen"


class SqliteDatabase:
    """One SQLite file in WAL mode: readers never wait on a writer."""

    engine = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            db = self._local.db = sqlite_utils.Database(conn)
        return db.conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: take the write lock first, so read-then-write never deadlocks."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close_thread(self) -> None:
        """Close this thread's connection (a thread that ends: a training's lease keeper)."""
        self.close()

    def create(self, schema: str, migrate: Callable[[sqlite3.Connection], None], version: int) -> None:
        self.conn.executescript(schema)  # creates what is missing; an older table stays as it was
        with self.transaction():
            migrate(self.conn)
            self.conn.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None


class PostgresDatabase:
    """A PostgreSQL database shared by every replica and worker (psycopg 3, one connection per
    thread, in autocommit mode outside `transaction`)."""

    engine = "postgresql"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise RuntimeError("DATABASE_URL is set, but psycopg is not installed: "
                               "pip install -r requirements-scale.txt") from None
        self._psycopg = psycopg
        self.url = url
        self._local = threading.local()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()  # a thread's goes with the thread

    @property
    def conn(self) -> Any:
        """This thread's connection, opened again if the last one broke (a server restart)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            self._connections.add(conn)
        return conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), params)  # no literal `?` or `%` in the store's SQL

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield

    def create(self, schema: str, migrate: Callable[[Any], None], version: int) -> None:
        """Create the tables (under the write lock: replicas starting together race otherwise).
        There is nothing to migrate: PostgreSQL support began with this schema."""
        with self.transaction():
            for statement in postgres_ddl(schema):
                self.conn.execute(statement)

    def close_thread(self) -> None:
        """Close this thread's connection (a thread that ends: a training's lease keeper)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        """Close every thread's connection."""
        for conn in list(self._connections):
            conn.close()


def postgres_ddl(schema: str) -> list[str]:
    """The store's SQLite schema as PostgreSQL statements: 64-bit integers, double-precision
    reals, and an identity column for AUTOINCREMENT."""
    text = re.sub(r"--[^\n]*", "", schema)
    text = text.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    text = re.sub(r"\bINTEGER\b", "BIGINT", text)
    text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text)
    return [statement.strip() for statement in text.split(";") if statement.strip()]


def open_database(location: Path | str) -> SqliteDatabase | PostgresDatabase:
    """A PostgreSQL URL (postgresql://... or postgres://...) or the path of an SQLite file."""
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(location)
    return SqliteDatabase(Path(location))
