"""A state directory written by the release before target kinds opens and keeps working (and
gains the training leases of schema version 3)."""

from __future__ import annotations

import json
import sqlite3

from backend.store import SCHEMA_VERSION, Store

# The annotations table as releases up to 0.x wrote it: one `label` string per annotation.
VERSION_1_ANNOTATIONS = """
CREATE TABLE annotations (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, task INTEGER, data TEXT NOT NULL,
    label TEXT NOT NULL, seq INTEGER NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX annotations_project ON annotations (project, seq);
CREATE TABLE projects (
    project TEXT PRIMARY KEY, changes INTEGER NOT NULL DEFAULT 0, rewrites INTEGER NOT NULL DEFAULT 0,
    updates INTEGER NOT NULL DEFAULT 0, pending INTEGER NOT NULL DEFAULT 0, running INTEGER NOT NULL DEFAULT 0,
    job TEXT, version TEXT
);
"""


def test_version_1_state_is_migrated_in_place(tmp_path):
    path = tmp_path / "backend.db"
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_1_ANNOTATIONS)
    labels = ["AI", "Coding", "ünïcödé \"quoted\"", "AI"]
    conn.executemany("INSERT INTO annotations VALUES (?, '3', ?, ?, ?, ?, '2026-11-30T00:00:00')",
                     [(i, 100 + i, json.dumps({"text": f"t{i}"}), label, i) for i, label in enumerate(labels, 1)])
    conn.execute("INSERT INTO projects (project, changes) VALUES ('3', 4)")
    conn.commit()
    conn.close()

    store = Store(path)
    assert [answer for _, answer, _ in store.annotations("3")] == labels
    assert store.answer_counts("3") == {'"AI"': 2, '"Coding"': 1, json.dumps(labels[2], ensure_ascii=False): 1}
    assert store.project("3")["changes"] == 4
    columns = {row[1] for row in store.database.execute("PRAGMA table_info(annotations)")}
    assert "label" not in columns and "answer" in columns
    assert store.database.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    held = {row[1] for row in store.database.execute("PRAGMA table_info(projects)")}
    assert {"due_at", "holder", "lease_until"} <= held  # version 3: training leases
    assert store.mark_pending("3", "j1", delay=1)[0] and store.claim_training("3", "w", 30)[0] == "claimed"

    # it keeps working: new writes, and a second opening changes nothing
    store.save_annotations("3", [{"id": 9, "task": 9, "data": {"text": "x"}, "answer": ["a", "b"]}], [1])
    again = Store(path)
    assert [answer for _, answer, _ in again.annotations("3")] == labels[1:] + [["a", "b"]]
