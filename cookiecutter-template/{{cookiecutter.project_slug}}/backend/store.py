"""The service's state: annotations, per-project training state, runs and model versions.

Embedded, it is one SQLite file (backend.db, WAL mode) shared by the request threads and the
queue worker; distributed, one PostgreSQL database shared by every web replica and worker
(databases.py). The SQL here is written once for both. Writes that must go together run in one
transaction that excludes other writers, so readers never wait on training.

A running training holds a lease on its project (holder, lease_until), renewed while it runs
(leases.py): when its worker dies, the lease expires and `reap` queues the training again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .databases import PostgresDatabase, SqliteDatabase, open_database
from .targets.base import answer_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,          -- Label Studio's annotation id
    project TEXT NOT NULL,
    task INTEGER,
    data TEXT NOT NULL,              -- the task's data, JSON
    answer TEXT NOT NULL,            -- what the annotation answers for the target, JSON (targets.answer_key)
    seq INTEGER NOT NULL,            -- write order: what a training has seen is everything up to a seq
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_project ON annotations (project, seq);
CREATE INDEX IF NOT EXISTS annotations_seq ON annotations (seq);  -- the next seq, without a scan
CREATE TABLE IF NOT EXISTS projects (
    project TEXT PRIMARY KEY,
    changes INTEGER NOT NULL DEFAULT 0,   -- annotation changes since the last training started
    rewrites INTEGER NOT NULL DEFAULT 0,  -- what an incremental update cannot apply, since the last
                                          -- full training: updates, deletes, asks for a full refit
    updates INTEGER NOT NULL DEFAULT 0,   -- incremental updates since the last full training
    pending INTEGER NOT NULL DEFAULT 0,   -- a training is queued
    running INTEGER NOT NULL DEFAULT 0,   -- a training is running
    job TEXT,                             -- id of the queued training
    version TEXT,                         -- the model version served for this project
    due_at REAL,                          -- when the queued training is due (epoch seconds)
    holder TEXT,                          -- the worker running its training
    lease_until REAL                      -- until when that worker holds it, unless renewed
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,                 -- running, succeeded, failed, skipped, interrupted
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
    status TEXT NOT NULL,                 -- serving, superseded (served before), rejected (never served)
    kind TEXT NOT NULL,                   -- full or incremental
    trigger TEXT NOT NULL,
    reason TEXT NOT NULL,                 -- why it is, or is not, served
    path TEXT,                            -- the model file; NULL once pruned
    n_annotations INTEGER NOT NULL,
    trained_until INTEGER NOT NULL,       -- the last annotation seq it learned from
    duration_s REAL NOT NULL,
    classes TEXT NOT NULL,                -- JSON list
    metrics TEXT NOT NULL,                -- JSON object
    libraries TEXT NOT NULL               -- JSON object: versions the model was made with
);
CREATE INDEX IF NOT EXISTS versions_project ON versions (project, seq);
CREATE TABLE IF NOT EXISTS skipped (
    project TEXT NOT NULL,
    reason TEXT NOT NULL,                 -- why annotations were not used: cancelled, unknown-choice, ...
    count INTEGER NOT NULL,
    PRIMARY KEY (project, reason)
);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,                -- where a resumable job (backfill, autolabel) got to
    value TEXT NOT NULL
);
"""
JSON_COLUMNS = ("classes", "metrics", "libraries")
# 1: annotations kept a `label` string; 2: an `answer` in JSON, whatever the target; 3: training leases
SCHEMA_VERSION = 3
LEASE_COLUMNS = {"due_at": "REAL", "holder": "TEXT", "lease_until": "REAL"}
# A queued training not started this long after it was due is queued again (its queue entry may
# have been lost with a worker killed as it took it); a duplicate entry finds nothing to claim.
PENDING_GRACE_SECONDS = 60.0


class LeaseLost(RuntimeError):
    """The training's lease expired and another worker took the training over."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, location: Path | str | SqliteDatabase | PostgresDatabase) -> None:
        """`location`: an SQLite file's path, a PostgreSQL URL, or an opened database."""
        self.database = location if isinstance(location, SqliteDatabase | PostgresDatabase) else open_database(location)
        self.database.create(SCHEMA, migrate, SCHEMA_VERSION)
        self.versions_changed = 0  # counts the changes of a served version made through this store

    @property
    def engine(self) -> str:
        return self.database.engine

    def close(self) -> None:
        self.database.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Writes that go together, excluding other writers (see databases.py)."""
        with self.database.transaction():
            yield self.database

    def _execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self.database.execute(sql, params)

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        cursor = self._execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row))

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self._execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self._execute(sql, params).fetchone()
        return row[0] if row else None

    # annotations -------------------------------------------------------------------------

    def save_annotations(self, project: str, records: list[dict[str, Any]], removed: list[int],
                         skipped: dict[str, int] | None = None) -> int:
        """Upsert usable annotations, delete the rest, and count the reasons annotations were
        skipped; returns how many rows changed."""
        stamp = now()
        changed = rewrites = 0
        with self.transaction() as db:
            seq = self._scalar("SELECT coalesce(max(seq), 0) FROM annotations")
            for record in records:
                seq += 1
                existed = db.execute("SELECT 1 FROM annotations WHERE id = ?", (record["id"],)).fetchone()
                db.execute(
                    "INSERT INTO annotations (id, project, task, data, answer, seq, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET project=excluded.project,"
                    " task=excluded.task, data=excluded.data, answer=excluded.answer, seq=excluded.seq,"
                    " updated_at=excluded.updated_at",
                    (record["id"], project, record.get("task"), json.dumps(record["data"]),
                     answer_key(record["answer"]), seq, stamp),
                )
                changed += 1
                rewrites += existed is not None
            for annotation_id in removed:
                deleted = db.execute("DELETE FROM annotations WHERE id = ? AND project = ?",
                                          (annotation_id, project)).rowcount  # only this project's
                changed += deleted
                rewrites += deleted
            for reason, count in (skipped or {}).items():
                db.execute(
                    "INSERT INTO skipped (project, reason, count) VALUES (?, ?, ?)"
                    " ON CONFLICT (project, reason) DO UPDATE SET count = skipped.count + excluded.count",
                    (project, reason, count),
                )
            if changed or skipped:
                self._ensure_project(db, project)
            if changed:
                db.execute(
                    "UPDATE projects SET changes = changes + ?, rewrites = rewrites + ? WHERE project = ?",
                    (changed, rewrites, project),
                )
        return changed

    def project_of_annotations(self, ids: list[int]) -> list[str]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._execute(
            f"SELECT DISTINCT project FROM annotations WHERE id IN ({marks})", ids
        ).fetchall()
        return [row[0] for row in rows]

    def annotations(self, project: str, after_seq: int = 0) -> list[tuple[dict[str, Any], Any, int]]:
        """(task data, answer, seq) of a project's annotations written after `after_seq`, in order."""
        rows = self._execute(
            "SELECT data, answer, seq FROM annotations WHERE project = ? AND seq > ? ORDER BY seq",
            (project, after_seq),
        )
        return [(json.loads(data), json.loads(answer), seq) for data, answer, seq in rows]

    def annotation_ids(self, project: str, written_before: str | None = None) -> set[int]:
        """The ids of the project's annotations (only those written before a `now()` stamp)."""
        sql, params = "SELECT id FROM annotations WHERE project = ?", (project,)
        if written_before is not None:
            sql, params = sql + " AND updated_at < ?", (project, written_before)
        return {row[0] for row in self._execute(sql, params)}

    def has_annotations(self, project: str, at_least: int) -> bool:
        """Whether the project holds `at_least` annotations, reading no more rows than that."""
        return self._scalar("SELECT count(*) FROM (SELECT 1 FROM annotations WHERE project = ? LIMIT ?) AS found",
                            (project, at_least)) >= at_least

    def count_annotations(self, project: str | None = None) -> int:
        if project is None:
            return self._scalar("SELECT count(*) FROM annotations")
        return self._scalar("SELECT count(*) FROM annotations WHERE project = ?", (project,))

    def answer_counts(self, project: str) -> dict[str, int]:
        """The number of the project's annotations per distinct answer (keyed by answer_key)."""
        rows = self._execute(
            "SELECT answer, count(*) FROM annotations WHERE project = ? GROUP BY answer", (project,)
        )
        return dict(rows.fetchall())

    def skipped(self, project: str) -> dict[str, int]:
        """How many annotations of the project were not used, by reason."""
        rows = self._execute("SELECT reason, count FROM skipped WHERE project = ? ORDER BY reason", (project,))
        return dict(rows.fetchall())

    # training state ----------------------------------------------------------------------

    def _ensure_project(self, db: Any, project: str) -> None:
        db.execute("INSERT INTO projects (project) VALUES (?) ON CONFLICT (project) DO NOTHING", (project,))

    def project(self, project: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM projects WHERE project = ?", (project,))
        return row or {"project": project, "changes": 0, "rewrites": 0, "updates": 0, "pending": 0,
                       "running": 0, "job": None, "version": None, "due_at": None, "holder": None,
                       "lease_until": None}

    def projects(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM projects ORDER BY project")

    def mark_pending(self, project: str, job: str, full: bool = False, delay: float = 0.0) -> tuple[bool, str]:
        """Flag a training as queued under `job`, due in `delay` seconds (`full`: it must refit
        on every annotation). Returns (True, job) when the caller must enqueue it, or (False,
        the queued job) when one is queued already: events coalesce."""
        with self.transaction() as db:
            self._ensure_project(db, project)
            if full:
                db.execute("UPDATE projects SET rewrites = rewrites + 1 WHERE project = ?", (project,))
            claimed = db.execute(
                "UPDATE projects SET pending = 1, job = ?, due_at = ? WHERE project = ? AND pending = 0",
                (job, time.time() + delay, project),
            ).rowcount == 1
            if claimed:
                return True, job
            return False, self._scalar("SELECT job FROM projects WHERE project = ?", (project,))

    def claim_training(self, project: str, holder: str = "", lease_seconds: float = 30.0
                       ) -> tuple[str, dict[str, Any] | None]:
        """Take the queued training of a project for `holder`, leased for `lease_seconds`:
        ('claimed', the project row as it was), ('busy', None) while another of its trainings
        runs under a live lease, or ('idle', None) if none is queued. A running training whose
        lease expired is taken over: its worker died."""
        with self.transaction() as db:
            row = self._one("SELECT * FROM projects WHERE project = ?", (project,))
            if row is None or not row["pending"]:
                return "idle", None
            stamp = time.time()
            if row["running"]:
                if row["lease_until"] is None or row["lease_until"] >= stamp:
                    return "busy", None
                self._interrupt_runs(db, [project])
            db.execute(
                "UPDATE projects SET pending = 0, running = 1, changes = 0, holder = ?, lease_until = ?"
                " WHERE project = ?",
                (holder, stamp + lease_seconds, project),
            )
            return "claimed", row

    def renew_lease(self, project: str, holder: str, lease_seconds: float) -> bool:
        """Extend `holder`'s lease on the project's running training; False if it lost it."""
        return self._execute(
            "UPDATE projects SET lease_until = ? WHERE project = ? AND running = 1 AND holder = ?",
            (time.time() + lease_seconds, project, holder),
        ).rowcount == 1

    def finish_training(self, project: str, changes_back: int = 0, holder: str | None = None) -> None:
        """End a training that published nothing; its claimed changes count again. With
        `holder`, only if that worker still holds the training."""
        sql = ("UPDATE projects SET running = 0, holder = NULL, lease_until = NULL, changes = changes + ?"
               " WHERE project = ?")
        with self.transaction() as db:
            if holder is None:
                db.execute(sql, (changes_back, project))
            else:
                db.execute(sql + " AND holder = ?", (changes_back, project, holder))

    def publish_version(self, record: dict[str, Any], serve: bool, claimed: dict[str, Any],
                        holder: str | None = None) -> None:
        """Record a trained version, end the training and, if `serve`, serve the version: all
        in one transaction. `claimed` is the project row as the training claimed it. With
        `holder`, raises LeaseLost (and records nothing) unless that worker still holds it."""
        project = record["project"]
        full = record["kind"] == "full"
        with self.transaction() as db:
            if holder is not None:
                state = self._one("SELECT running, holder FROM projects WHERE project = ?", (project,))
                if not state or not state["running"] or state["holder"] != holder:
                    raise LeaseLost(f"project {project}: another worker took this training over")
            if serve:
                db.execute(
                    "UPDATE versions SET status = 'superseded' WHERE project = ? AND status = 'serving'",
                    (project,),
                )
            self._insert(db, "versions", {**record, "status": "serving" if serve else "rejected"})
            db.execute(
                "UPDATE projects SET running = 0, holder = NULL, lease_until = NULL,"
                " rewrites = CASE WHEN ? THEN (CASE WHEN rewrites > ? THEN rewrites - ? ELSE 0 END)"
                " ELSE rewrites END,"
                " updates = CASE WHEN ? THEN 0 ELSE updates + 1 END,"
                " version = CASE WHEN ? THEN ? ELSE version END WHERE project = ?",
                (full, claimed["rewrites"], claimed["rewrites"], full, serve, record["version"], project),
            )
        self.versions_changed += 1

    def _insert(self, db: Any, table: str, record: dict[str, Any]) -> None:
        """Insert a row (the table and the keys are the store's own names, never a user's)."""
        columns = list(record)
        values = [json.dumps(v) if isinstance(v, dict | list | tuple) else v for v in record.values()]
        db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)

    def activate(self, project: str, version: str) -> None:
        """Serve a kept version of the project (a rollback, or a rejected model chosen by hand);
        the registry checks first that it is the project's and that its model loads."""
        with self.transaction() as db:
            db.execute(
                "UPDATE versions SET status = 'superseded' WHERE project = ? AND status = 'serving'", (project,)
            )
            db.execute(
                "UPDATE versions SET status = 'serving', reason = reason || ? WHERE version = ?",
                (f"; activated by hand at {now()}", version),
            )
            self._ensure_project(db, project)
            # the next incremental update must start from a full refit of the new base
            db.execute("UPDATE projects SET version = ?, rewrites = rewrites + 1 WHERE project = ?",
                       (version, project))
        self.versions_changed += 1

    def prunable(self, project: str, keep: int) -> list[dict[str, Any]]:
        """Versions whose model files go: beyond the newest `keep`, never the served one."""
        rows = self._rows(
            "SELECT version, path FROM versions WHERE project = ? AND path IS NOT NULL"
            " AND status != 'serving' ORDER BY seq DESC",
            (project,),
        )
        return rows[max(keep - 1, 0):]

    def forget_file(self, version: str) -> None:
        self._execute("UPDATE versions SET path = NULL WHERE version = ?", (version,))

    def recover(self) -> list[tuple[str, str | None]]:
        """At the start of the only worker (the embedded mode), trainings that were running are
        queued again. Returns (project, job) for every queued training, for the caller to
        enqueue: its queue entry may be lost."""
        with self.transaction() as db:
            db.execute("UPDATE projects SET pending = 1, running = 0, holder = NULL, lease_until = NULL"
                       " WHERE running = 1")
            db.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'", (now(),)
            )
            return [tuple(row) for row in db.execute("SELECT project, job FROM projects WHERE pending = 1")]

    def reap(self, grace: float = PENDING_GRACE_SECONDS, late: bool = True) -> list[tuple[str, str | None]]:
        """Trainings to queue again, whichever worker asks: those running under an expired lease
        (their worker died), and, with `late` (the caller saw the queue empty), those queued but
        not started `grace` seconds after they were due (their queue entry went with a worker
        that died taking it). Returns (project, job) of each; they are marked queued, due now."""
        stamp = time.time()
        with self.transaction() as db:
            dead = [row[0] for row in db.execute(
                "SELECT project FROM projects WHERE running = 1 AND lease_until < ?", (stamp,))]
            if dead:
                self._interrupt_runs(db, dead)
            db.execute(
                "UPDATE projects SET running = 0, pending = 1, holder = NULL, lease_until = NULL, due_at = ?"
                " WHERE running = 1 AND lease_until < ?",
                (stamp, stamp),
            )
            lost = []
            if late:
                lost = [row[0] for row in db.execute(
                    "SELECT project FROM projects WHERE pending = 1 AND running = 0 AND due_at < ?", (stamp - grace,))]
                db.execute("UPDATE projects SET due_at = ? WHERE pending = 1 AND running = 0 AND due_at < ?",
                           (stamp, stamp - grace))
            wanted = set(dead) | set(lost)
            return [(project, job) for project, job in db.execute("SELECT project, job FROM projects")
                    if project in wanted]

    def _interrupt_runs(self, db: Any, projects: list[str]) -> None:
        marks = ",".join("?" * len(projects))
        db.execute(f"UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'"
                   f" AND project IN ({marks})", (now(), *projects))

    # runs and versions --------------------------------------------------------------------

    def start_run(self, project: str, trigger: str) -> int:
        cursor = self._execute(
            "INSERT INTO runs (project, trigger, status, started_at) VALUES (?, ?, 'running', ?) RETURNING id",
            (project, trigger, now()),
        )
        return int(cursor.fetchone()[0])

    def end_run(self, run_id: int, status: str, duration_s: float, n_annotations: int | None,
                version: str | None = None, detail: str | None = None) -> None:
        self._execute(
            "UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, n_annotations = ?,"
            " version = ?, detail = ? WHERE id = ?",
            (status, now(), round(duration_s, 4), n_annotations, version, detail, run_id),
        )

    def runs(self, project: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, params = ("WHERE project = ?", (project,)) if project else ("", ())
        return self._rows(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT {int(limit)}", params)

    def next_seq(self, project: str) -> int:
        return 1 + self._scalar("SELECT coalesce(max(seq), 0) FROM versions WHERE project = ?", (project,))

    def version(self, version: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM versions WHERE version = ?", (version,))
        return _decoded(row) if row else None

    def versions(self, project: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE project = ?", (project,)) if project else ("", ())
        return [_decoded(row) for row in self._rows(f"SELECT * FROM versions {where} ORDER BY project, seq", params)]

    def served_version(self, project: str) -> str | None:
        return self._scalar("SELECT version FROM projects WHERE project = ?", (project,))

    # cursors of resumable jobs ---------------------------------------------------------------

    def cursor(self, name: str) -> Any:
        value = self._scalar("SELECT value FROM cursors WHERE name = ?", (name,))
        return json.loads(value) if value is not None else None

    def contact(self, project: str) -> dict[str, Any] | None:
        """How importing the project's existing annotations from Label Studio went: status
        (queued, imported or failed), when (epoch seconds), from where, and the problem."""
        return self.cursor(f"contact:{project}")

    def set_contact(self, project: str, **state: Any) -> None:
        self.set_cursor(f"contact:{project}", state)

    def setup_credentials(self, project: str) -> dict[str, Any] | None:
        """The address and token the project's latest /setup sent ({"url", "api_key"}), or None."""
        return self.cursor(f"setup:{project}")

    def set_setup_credentials(self, project: str, url: str, api_key: str) -> None:
        self.set_cursor(f"setup:{project}", {"url": url, "api_key": api_key})

    def prediction_source(self, project: str) -> dict[str, Any] | None:
        """The version Label Studio's prediction source was last pointed at, or the error."""
        return self.cursor(f"prediction_source:{project}")

    def set_prediction_source(self, project: str, **state: Any) -> None:
        self.set_cursor(f"prediction_source:{project}", state)

    def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold the lease `name` for `seconds` (renewing it if `holder` holds it already), unless
        another holder has it and it has not expired: one job at a time across processes."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM cursors WHERE name = ?", (f"lease:{name}",)).fetchone()
            lease = json.loads(row[0]) if row else None
            if lease and lease["holder"] != holder and lease["until"] > time.time():
                return False
            db.execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (f"lease:{name}", json.dumps({"holder": holder, "until": time.time() + seconds})),
            )
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT value FROM cursors WHERE name = ?", (f"lease:{name}",)).fetchone()
            if row and json.loads(row[0])["holder"] == holder:
                db.execute("DELETE FROM cursors WHERE name = ?", (f"lease:{name}",))

    def set_cursor(self, name: str, value: Any) -> None:
        if value is None:
            self._execute("DELETE FROM cursors WHERE name = ?", (name,))
        else:
            self._execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, json.dumps(value)),
            )


def migrate(conn: sqlite3.Connection) -> None:
    """Bring an SQLite state directory written by an earlier release to this schema, in place."""
    held = {row[1] for row in conn.execute("PRAGMA table_info(projects)")}
    for column, kind in LEASE_COLUMNS.items():  # version 2: no training leases
        if column not in held:
            conn.execute(f"ALTER TABLE projects ADD COLUMN {column} {kind}")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(annotations)")}
    if "label" in columns and "answer" not in columns:  # version 1: a single-choice label string
        conn.execute("ALTER TABLE annotations ADD COLUMN answer TEXT")
        labels = conn.execute("SELECT id, label FROM annotations").fetchall()
        conn.executemany("UPDATE annotations SET answer = ? WHERE id = ?",
                         [(answer_key(label), annotation_id) for annotation_id, label in labels])
        conn.execute("ALTER TABLE annotations DROP COLUMN label")


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **{key: json.loads(row[key]) for key in JSON_COLUMNS}}
