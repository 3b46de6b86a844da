"""The service's SQLite state: annotations, per-project training state, runs and model versions.

One file (backend.db, WAL mode) shared by the request threads, the queue worker and, in
two-process deployments, the worker process. Each thread has its own connection; writes that
must go together run in one BEGIN IMMEDIATE transaction, so readers never wait on training.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA = """
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,          -- Label Studio's annotation id
    project TEXT NOT NULL,
    task INTEGER,
    data TEXT NOT NULL,              -- the task's data, JSON
    label TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_project ON annotations (project);
CREATE TABLE IF NOT EXISTS projects (
    project TEXT PRIMARY KEY,
    changes INTEGER NOT NULL DEFAULT 0,   -- annotation changes since the last training started
    pending INTEGER NOT NULL DEFAULT 0,   -- a training is queued
    running INTEGER NOT NULL DEFAULT 0,   -- a training is running
    job TEXT,                             -- id of the queued training
    version TEXT                          -- the model version served for this project
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,                 -- running, succeeded, failed, skipped
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_s REAL,
    n_annotations INTEGER,
    version TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS runs_project ON runs (project);
CREATE TABLE IF NOT EXISTS versions (
    version TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    path TEXT NOT NULL,
    n_annotations INTEGER NOT NULL,
    classes TEXT NOT NULL,                -- JSON list
    metrics TEXT NOT NULL,                -- JSON object
    libraries TEXT NOT NULL               -- JSON object: versions the model was made with
);
CREATE INDEX IF NOT EXISTS versions_project ON versions (project, seq);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db.conn.executescript(SCHEMA)

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE: take the write lock first, so read-then-write never deadlocks."""
        db = self.db
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        cursor = self.db.conn.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row))

    # annotations -------------------------------------------------------------------------

    def save_annotations(self, project: str, records: list[dict[str, Any]], removed: list[int]) -> int:
        """Upsert usable annotations and delete the rest; returns how many rows changed."""
        stamp = now()
        changed = 0
        with self.transaction() as db:
            for record in records:
                db.conn.execute(
                    "INSERT INTO annotations (id, project, task, data, label, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET project=excluded.project,"
                    " task=excluded.task, data=excluded.data, label=excluded.label,"
                    " updated_at=excluded.updated_at",
                    (record["id"], project, record.get("task"), json.dumps(record["data"]),
                     record["label"], stamp),
                )
                changed += 1
            for annotation_id in removed:
                changed += db.conn.execute("DELETE FROM annotations WHERE id = ?", (annotation_id,)).rowcount
            if changed:
                self._ensure_project(db, project)
                db.conn.execute(
                    "UPDATE projects SET changes = changes + ? WHERE project = ?", (changed, project)
                )
        return changed

    def project_of_annotations(self, ids: list[int]) -> list[str]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.conn.execute(
            f"SELECT DISTINCT project FROM annotations WHERE id IN ({marks})", ids
        ).fetchall()
        return [row[0] for row in rows]

    def annotations(self, project: str) -> list[tuple[dict[str, Any], str]]:
        """(task data, label) for every stored annotation of a project, oldest id first."""
        rows = self.db.conn.execute(
            "SELECT data, label FROM annotations WHERE project = ? ORDER BY id", (project,)
        )
        return [(json.loads(data), label) for data, label in rows]

    def count_annotations(self, project: str | None = None) -> int:
        if project is None:
            return self.db.conn.execute("SELECT count(*) FROM annotations").fetchone()[0]
        return self.db.conn.execute(
            "SELECT count(*) FROM annotations WHERE project = ?", (project,)
        ).fetchone()[0]

    # training state ----------------------------------------------------------------------

    def _ensure_project(self, db: sqlite_utils.Database, project: str) -> None:
        db.conn.execute("INSERT OR IGNORE INTO projects (project) VALUES (?)", (project,))

    def project(self, project: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM projects WHERE project = ?", (project,))
        return row or {"project": project, "changes": 0, "pending": 0, "running": 0,
                       "job": None, "version": None}

    def projects(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM projects ORDER BY project"))

    def mark_pending(self, project: str, job: str) -> tuple[bool, str]:
        """Flag a training as queued under `job`. Returns (True, job) when the caller must
        enqueue it, or (False, the queued job) when one is queued already: events coalesce."""
        with self.transaction() as db:
            self._ensure_project(db, project)
            claimed = db.conn.execute(
                "UPDATE projects SET pending = 1, job = ? WHERE project = ? AND pending = 0",
                (job, project),
            ).rowcount == 1
            if claimed:
                return True, job
            return False, db.conn.execute(
                "SELECT job FROM projects WHERE project = ?", (project,)
            ).fetchone()[0]

    def claim_training(self, project: str) -> tuple[str, dict[str, Any] | None]:
        """Take the queued training of a project: ('claimed', the project row as it was),
        ('busy', None) while another of its trainings runs, or ('idle', None) if none is queued."""
        with self.transaction() as db:
            row = self._one("SELECT * FROM projects WHERE project = ?", (project,))
            if row is None or not row["pending"]:
                return "idle", None
            if row["running"]:
                return "busy", None
            db.conn.execute(
                "UPDATE projects SET pending = 0, running = 1, changes = 0 WHERE project = ?",
                (project,),
            )
            return "claimed", row

    def finish_training(self, project: str, changes_back: int = 0) -> None:
        """End a training that published nothing; its claimed changes count again."""
        with self.transaction() as db:
            db.conn.execute(
                "UPDATE projects SET running = 0, changes = changes + ? WHERE project = ?",
                (changes_back, project),
            )

    def publish_version(self, record: dict[str, Any]) -> None:
        """Record a trained version and serve it, in one transaction."""
        with self.transaction() as db:
            db["versions"].insert(record)
            db.conn.execute(
                "UPDATE projects SET running = 0, version = ? WHERE project = ?",
                (record["version"], record["project"]),
            )

    def recover(self) -> list[tuple[str, str | None]]:
        """After a crash, trainings that were running are queued again. Returns (project, job)
        for every queued training, for the caller to enqueue: its queue entry may be lost."""
        with self.transaction() as db:
            db.conn.execute("UPDATE projects SET pending = 1, running = 0 WHERE running = 1")
            db.conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'", (now(),)
            )
            return [tuple(row) for row in db.conn.execute("SELECT project, job FROM projects WHERE pending = 1")]

    # runs and versions --------------------------------------------------------------------

    def start_run(self, project: str, trigger: str) -> int:
        cursor = self.db.conn.execute(
            "INSERT INTO runs (project, trigger, status, started_at) VALUES (?, ?, 'running', ?)",
            (project, trigger, now()),
        )
        return int(cursor.lastrowid or 0)

    def end_run(self, run_id: int, status: str, duration_s: float, n_annotations: int | None,
                version: str | None = None, detail: str | None = None) -> None:
        self.db.conn.execute(
            "UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, n_annotations = ?,"
            " version = ?, detail = ? WHERE id = ?",
            (status, now(), round(duration_s, 4), n_annotations, version, detail, run_id),
        )

    def runs(self, project: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, params = ("WHERE project = ?", (project,)) if project else ("", ())
        return list(self.db.query(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT {int(limit)}", params))

    def next_seq(self, project: str) -> int:
        return 1 + self.db.conn.execute(
            "SELECT coalesce(max(seq), 0) FROM versions WHERE project = ?", (project,)
        ).fetchone()[0]

    def version(self, version: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM versions WHERE version = ?", (version,))

    def versions(self, project: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE project = ?", (project,)) if project else ("", ())
        rows = self.db.query(f"SELECT * FROM versions {where} ORDER BY project, seq", params)
        return [
            {**row, **{key: json.loads(row[key]) for key in ("classes", "metrics", "libraries")}}
            for row in rows
        ]

    def served_version(self, project: str) -> str | None:
        row = self.db.conn.execute("SELECT version FROM projects WHERE project = ?", (project,)).fetchone()
        return row[0] if row else None
