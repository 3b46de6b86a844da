"""The state (backend/store.py), method by method, on both its databases (an SQLite file and
a real PostgreSQL server): annotations and their write order, the per-project training state
machine and its leases, versions and what publishing or activating one does, pruning, recovery
after a crash, runs, cursors and leases; then what concurrent writers from several processes
(replicas) must not break."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime

import pytest
from backend.store import SCHEMA_VERSION, LeaseLost, Store, now
from backend.targets import answer_key


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """Where a test's state lives: a new SQLite file, or a new empty PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state" / "backend.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(location):
    store = Store(location)
    yield store
    store.close()


def note(id_: int, answer, text: str | None = None, task: int | None = None) -> dict:
    return {"id": id_, "task": task if task is not None else id_ + 1000, "data": {"text": text or f"t{id_}"},
            "answer": answer}


def version_record(project: str, seq: int, kind: str = "full", **extra) -> dict:
    return {"version": f"{project}-v{seq}", "project": project, "seq": seq, "created_at": now(), "kind": kind,
            "trigger": "test", "reason": "because", "path": f"{project}/v{seq}.skops", "n_annotations": 10,
            "trained_until": seq * 10, "duration_s": 0.5, "classes": ["a", "b"], "metrics": {"accuracy": 0.9},
            "libraries": {"scikit-learn": "1.9.1"}, **extra}


def publish(store: Store, project: str, seq: int, serve: bool = True, kind: str = "full", **extra) -> str:
    store.mark_pending(project, f"job{seq}")
    status, claimed = store.claim_training(project)
    assert status == "claimed"
    record = version_record(project, seq, kind, **extra)
    store.publish_version(record, serve, claimed)
    return record["version"]


def statuses(store: Store, project: str) -> dict[str, str]:
    return {v["version"]: v["status"] for v in store.versions(project)}


# opening ---------------------------------------------------------------------------------


def test_opening_creates_the_folder_and_a_wal_database_at_the_schema_version(tmp_path):
    """A store opens in a folder that does not exist yet, in WAL mode, stamped with the schema
    version; a second opening of the same file keeps what the first wrote."""
    path = tmp_path / "deep" / "er" / "backend.db"
    store = Store(path)
    assert path.exists()
    assert store.engine == "sqlite"
    assert store.database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.database.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.save_annotations("1", [note(1, "a")], [])
    assert Store(path).count_annotations("1") == 1


def test_now_is_a_utc_timestamp_in_milliseconds():
    """Stamps sort as text in time order: ISO 8601, UTC, to the millisecond."""
    stamp = now()
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset().total_seconds() == 0
    assert len(stamp.split("T")[1].split("+")[0]) == len("12:00:00.000")


def test_each_thread_has_its_own_connection_and_sees_committed_writes(store):
    """A thread's connection is kept for it (the same object each time) and is not another
    thread's; what one thread commits another reads."""
    assert store.database.conn is store.database.conn
    seen = {}

    def other():
        seen["db"] = store.database.conn
        store.save_annotations("1", [note(1, "a")], [])

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["db"] is not store.database.conn
    assert store.count_annotations("1") == 1


def test_a_transaction_that_raises_writes_nothing(store):
    """Writes inside a failed transaction are rolled back, and the connection is usable after."""
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("INSERT INTO cursors (name, value) VALUES ('x', '1')")
        raise RuntimeError("boom")
    assert store.cursor("x") is None
    with store.transaction() as db:
        db.execute("INSERT INTO cursors (name, value) VALUES ('x', '1')")
    assert store.cursor("x") == 1


# annotations -----------------------------------------------------------------------------


def test_annotations_come_back_decoded_in_write_order_after_a_seq(store):
    """Each saved annotation gets the next seq across all projects; a project's annotations
    come back (data, answer, seq) in that order, and `after_seq` keeps only later ones."""
    assert store.save_annotations("1", [note(1, "a"), note(2, ["x", "y"])], []) == 2
    assert store.save_annotations("2", [note(3, 4.5)], []) == 1
    assert store.save_annotations("1", [note(4, "b", text="ünï")], []) == 1
    assert store.annotations("1") == [({"text": "t1"}, "a", 1), ({"text": "t2"}, ["x", "y"], 2),
                                      ({"text": "ünï"}, "b", 4)]
    assert store.annotations("1", after_seq=2) == [({"text": "ünï"}, "b", 4)]
    assert store.annotations("1", after_seq=4) == []
    assert store.annotations("2") == [({"text": "t3"}, 4.5, 3)]
    assert store.count_annotations("1") == 3 and store.count_annotations("2") == 1
    assert store.count_annotations() == 4 and store.count_annotations("3") == 0


def test_saving_an_annotation_again_updates_it_and_counts_a_rewrite(store):
    """An annotation saved again (edited in Label Studio) replaces the stored one, moves to the
    end of the write order and counts as a rewrite, which an incremental update cannot apply."""
    store.save_annotations("1", [note(1, "a"), note(2, "b")], [])
    assert store.project("1")["changes"] == 2 and store.project("1")["rewrites"] == 0
    assert store.save_annotations("1", [note(1, "b", text="edited", task=77)], []) == 1
    assert store.annotations("1") == [({"text": "t2"}, "b", 2), ({"text": "edited"}, "b", 3)]
    assert store.count_annotations("1") == 2
    row = store.database.execute("SELECT task, project FROM annotations WHERE id = 1").fetchone()
    assert row == (77, "1")
    state = store.project("1")
    assert state["changes"] == 3 and state["rewrites"] == 1
    assert store.save_annotations("1", [note(1, "a"), note(2, "a"), note(3, "a")], []) == 3  # two rewrites
    state = store.project("1")
    assert state["changes"] == 6 and state["rewrites"] == 3


def test_an_annotation_moved_to_another_project_leaves_the_first(store):
    """The same annotation id saved under another project belongs to that project only."""
    store.save_annotations("1", [note(1, "a")], [])
    store.save_annotations("2", [note(1, "a")], [])
    assert store.count_annotations("1") == 0 and store.count_annotations("2") == 1
    assert store.project_of_annotations([1]) == ["2"]


def test_removing_annotations_counts_only_those_that_were_stored(store):
    """Deleting ids removes those stored (a change and a rewrite each); ids never stored
    change nothing, and a call that changes nothing creates no project row."""
    store.save_annotations("1", [note(1, "a"), note(2, "b"), note(3, "a")], [])
    assert store.save_annotations("1", [], [1, 3, 99]) == 2
    assert store.annotations("1") == [({"text": "t2"}, "b", 2)]
    state = store.project("1")
    assert state["changes"] == 5 and state["rewrites"] == 2
    assert store.save_annotations("9", [], [42]) == 0
    assert [p["project"] for p in store.projects()] == ["1"]


def test_skipped_annotations_are_counted_by_reason_and_add_up(store):
    """Reasons annotations were not used add up per project; skips alone create the project
    row (for /metrics) but count no change."""
    store.save_annotations("1", [], [], {"cancelled": 2, "unknown-choice": 1})
    store.save_annotations("1", [note(1, "a")], [], {"cancelled": 3})
    store.save_annotations("2", [], [], {"cancelled": 1})
    assert store.skipped("1") == {"cancelled": 5, "unknown-choice": 1}
    assert list(store.skipped("1")) == ["cancelled", "unknown-choice"]
    assert store.skipped("2") == {"cancelled": 1} and store.skipped("3") == {}
    assert store.project("1")["changes"] == 1
    assert store.project("2")["changes"] == 0 and [p["project"] for p in store.projects()] == ["1", "2"]


def test_project_of_annotations_names_each_project_once(store):
    """The projects that hold some of these annotation ids, each once; none for no ids."""
    store.save_annotations("1", [note(1, "a"), note(2, "b")], [])
    store.save_annotations("2", [note(3, "a")], [])
    assert sorted(store.project_of_annotations([1, 2, 3, 4])) == ["1", "2"]
    assert store.project_of_annotations([1, 2]) == ["1"]
    assert store.project_of_annotations([]) == [] and store.project_of_annotations([99]) == []


def test_annotation_ids_written_before_a_stamp(store):
    """All of a project's annotation ids, or only those written strictly before a stamp (what
    a full backfill uses to find annotations deleted in Label Studio)."""
    store.save_annotations("1", [note(1, "a"), note(2, "b")], [])
    store.save_annotations("2", [note(5, "a")], [])
    time.sleep(0.005)
    stamp = now()
    time.sleep(0.005)
    store.save_annotations("1", [note(3, "a"), note(2, "a")], [])
    assert store.annotation_ids("1") == {1, 2, 3}
    assert store.annotation_ids("1", written_before=stamp) == {1}
    time.sleep(0.005)
    assert store.annotation_ids("1", written_before=now()) == {1, 2, 3}
    assert store.annotation_ids("3") == set()


def test_answer_counts_group_equal_answers_by_their_key(store):
    """Answers count per canonical key: lists with the same items in the same order, and
    numbers, group together, per project."""
    store.save_annotations("1", [note(1, "a"), note(2, "a"), note(3, ["x", "y"]), note(4, ["x", "y"]),
                                 note(5, "b")], [])
    store.save_annotations("2", [note(6, "a")], [])
    assert store.answer_counts("1") == {answer_key("a"): 2, answer_key(["x", "y"]): 2, answer_key("b"): 1}
    assert store.answer_counts("2") == {answer_key("a"): 1} and store.answer_counts("3") == {}


# training state --------------------------------------------------------------------------


def test_an_unknown_project_has_a_blank_state(store):
    """A project the store has never seen reads as all zeros, with no job and no version."""
    assert store.project("7") == {"project": "7", "changes": 0, "rewrites": 0, "updates": 0, "pending": 0,
                                  "running": 0, "job": None, "version": None, "due_at": None, "holder": None,
                                  "lease_until": None}
    assert store.projects() == [] and store.served_version("7") is None


def test_pending_trainings_coalesce_on_the_first_job(store):
    """The first mark claims the queue slot (True, its job); later marks get the job already
    queued. A full mark counts a rewrite even when it coalesces."""
    assert store.mark_pending("1", "j1") == (True, "j1")
    assert store.mark_pending("1", "j2") == (False, "j1")
    assert store.mark_pending("1", "j3", full=True) == (False, "j1")
    assert store.mark_pending("2", "k1", full=True) == (True, "k1")
    one, two = store.project("1"), store.project("2")
    assert (one["pending"], one["job"], one["rewrites"]) == (1, "j1", 1)
    assert (two["pending"], two["job"], two["rewrites"]) == (1, "k1", 1)


def test_claiming_takes_the_queued_training_once(store):
    """claim: idle when nothing is queued, claimed (with the row as it was) once, busy while
    it runs; the claim resets the change count, and finishing gives back what it did not use."""
    assert store.claim_training("1") == ("idle", None)
    store.save_annotations("1", [note(1, "a"), note(2, "b"), note(3, "a")], [])
    assert store.claim_training("1") == ("idle", None)  # changes alone queue nothing
    store.mark_pending("1", "j1")
    status, row = store.claim_training("1")
    assert status == "claimed" and row["changes"] == 3 and row["pending"] == 1 and row["running"] == 0
    assert row["job"] == "j1"
    state = store.project("1")
    assert (state["pending"], state["running"], state["changes"]) == (0, 1, 0)
    assert store.claim_training("1") == ("idle", None)
    store.mark_pending("1", "j2")
    assert store.claim_training("1") == ("busy", None)
    store.save_annotations("1", [note(4, "b")], [])
    store.finish_training("1", changes_back=3)
    state = store.project("1")
    assert (state["running"], state["changes"], state["pending"]) == (0, 4, 1)
    assert store.claim_training("1")[0] == "claimed"
    store.finish_training("1")
    assert store.project("1")["changes"] == 0


def test_recovery_requeues_running_trainings_and_interrupts_their_runs(store):
    """After a crash a running training is pending again and its run 'interrupted'; every
    queued training is returned (project, job) for the caller to enqueue."""
    store.mark_pending("1", "j1")
    store.claim_training("1")  # running when the process died
    run = store.start_run("1", "test")
    store.mark_pending("2", "j2")  # queued, not started
    store.mark_pending("3", "j3")
    store.claim_training("3")
    store.finish_training("3")  # done: not queued again
    done = store.start_run("3", "test")
    store.end_run(done, "succeeded", 1.0, 5)
    assert sorted(store.recover()) == [("1", "j1"), ("2", "j2")]
    state = store.project("1")
    assert (state["pending"], state["running"]) == (1, 0)
    interrupted = store.runs("1")[0]
    assert interrupted["id"] == run and interrupted["status"] == "interrupted" and interrupted["finished_at"]
    assert store.runs("3")[0]["status"] == "succeeded"
    assert store.claim_training("1")[0] == "claimed"


# versions --------------------------------------------------------------------------------


def test_publishing_serves_the_new_version_and_supersedes_the_old(store):
    """A served version becomes the project's, the one served before it 'superseded'; another
    project's served version is untouched. The JSON columns come back decoded."""
    first = publish(store, "1", 1)
    other = publish(store, "2", 1)
    second = publish(store, "1", 2)
    assert statuses(store, "1") == {first: "superseded", second: "serving"}
    assert statuses(store, "2") == {other: "serving"}
    assert store.served_version("1") == second and store.project("1")["version"] == second
    record = store.version(second)
    assert record["classes"] == ["a", "b"] and record["metrics"] == {"accuracy": 0.9}
    assert record["libraries"] == {"scikit-learn": "1.9.1"} and record["trained_until"] == 20
    assert store.version("nope") is None
    assert store.project("1")["running"] == 0


def test_a_rejected_version_is_kept_but_not_served(store):
    """A version the gate rejects is recorded 'rejected'; the served one stays served."""
    served = publish(store, "1", 1)
    rejected = publish(store, "1", 2, serve=False)
    assert statuses(store, "1") == {served: "serving", rejected: "rejected"}
    assert store.served_version("1") == served
    assert store.project("1")["running"] == 0


def test_publishing_settles_the_rewrites_and_updates_the_training_saw(store):
    """A full training clears the rewrites it was claimed with (not those that came during
    it) and the incremental-update count; an incremental one counts an update and leaves the
    rewrites; neither goes below zero."""
    store.mark_pending("1", "j", full=True)
    store.mark_pending("1", "j", full=True)  # 2 rewrites when claimed
    _, claimed = store.claim_training("1")
    store.save_annotations("1", [note(1, "a")], [])
    store.save_annotations("1", [note(1, "b")], [])  # a rewrite during the training
    store.publish_version(version_record("1", 1), True, claimed)
    assert (store.project("1")["rewrites"], store.project("1")["updates"]) == (1, 0)
    publish(store, "1", 2, kind="incremental")
    publish(store, "1", 3, kind="incremental")
    assert (store.project("1")["rewrites"], store.project("1")["updates"]) == (1, 2)
    store.mark_pending("1", "j4")
    _, claimed = store.claim_training("1")
    store.publish_version(version_record("1", 4), False, {**claimed, "rewrites": 5})  # more than there are
    state = store.project("1")
    assert (state["rewrites"], state["updates"]) == (0, 0)
    assert state["version"] == "1-v3"  # not served: the version stays


def test_next_seq_counts_per_project(store):
    """Version numbers go 1, 2, ... per project."""
    assert store.next_seq("1") == 1
    publish(store, "1", 1)
    publish(store, "1", 2)
    assert store.next_seq("1") == 3 and store.next_seq("2") == 1


def test_versions_list_by_project_then_seq(store):
    """versions() lists one project's in seq order, or every project's grouped by project."""
    publish(store, "2", 1)
    publish(store, "1", 1)
    publish(store, "1", 2)
    assert [v["version"] for v in store.versions("1")] == ["1-v1", "1-v2"]
    assert [v["version"] for v in store.versions()] == ["1-v1", "1-v2", "2-v1"]
    assert all(isinstance(v["metrics"], dict) for v in store.versions())


def test_activating_a_version_serves_it_and_forces_a_full_refit_next(store):
    """Activating (a rollback) serves the chosen version, supersedes the served one, notes it in
    the reason, and counts a rewrite so the next training is a full refit of the new base."""
    first = publish(store, "1", 1)
    second = publish(store, "1", 2)
    rejected = publish(store, "1", 3, serve=False)
    store.activate("1", rejected)
    assert statuses(store, "1") == {first: "superseded", second: "superseded", rejected: "serving"}
    assert store.served_version("1") == rejected
    assert store.version(rejected)["reason"].startswith("because; activated by hand at ")
    assert store.project("1")["rewrites"] == 1
    store.activate("1", first)
    assert statuses(store, "1")[first] == "serving" and statuses(store, "1")[rejected] == "superseded"
    assert store.project("1")["rewrites"] == 2
    assert [p["project"] for p in store.projects()] == ["1"]


def test_prunable_keeps_the_newest_files_and_always_the_served_one(store):
    """Beyond the newest `keep` versions (the served one counting as one of them), model files
    go, newest first; never the served one, nor one whose file is gone already."""
    versions = [publish(store, "1", seq) for seq in range(1, 5)]  # v4 served
    publish(store, "2", 1, serve=False)
    assert [v["version"] for v in store.prunable("1", 2)] == versions[1::-1]
    assert store.prunable("1", 2)[0]["path"] == "1/v2.skops"
    assert [v["version"] for v in store.prunable("1", 1)] == versions[2::-1]
    assert [v["version"] for v in store.prunable("1", 0)] == versions[2::-1]
    assert store.prunable("1", 10) == []
    store.activate("1", versions[1])  # a rollback to v2: v4 and v3 are newer
    assert [v["version"] for v in store.prunable("1", 2)] == [versions[2], versions[0]]
    store.forget_file(versions[0])
    assert store.version(versions[0])["path"] is None
    assert [v["version"] for v in store.prunable("1", 2)] == [versions[2]]


# runs ------------------------------------------------------------------------------------


def test_runs_are_recorded_and_listed_newest_first(store):
    """A run starts 'running' and ends with its outcome; runs list newest first, per project or
    all, at most `limit`."""
    first = store.start_run("1", "webhook")
    store.end_run(first, "succeeded", 1.234567, 12, version="1-v1")
    second = store.start_run("1", "schedule")
    store.end_run(second, "skipped", 0.1, None, detail="not enough")
    third = store.start_run("2", "test")
    assert first < second < third
    assert [r["id"] for r in store.runs("1")] == [second, first]
    assert [r["id"] for r in store.runs()] == [third, second, first]
    assert [r["id"] for r in store.runs(limit=2)] == [third, second]
    done = store.runs("1")[1]
    assert done["status"] == "succeeded" and done["trigger"] == "webhook" and done["duration_s"] == 1.2346
    assert done["n_annotations"] == 12 and done["version"] == "1-v1" and done["detail"] is None
    assert done["started_at"] <= done["finished_at"]
    skipped = store.runs("1")[0]
    assert skipped["detail"] == "not enough" and skipped["version"] is None
    running = store.runs("2")[0]
    assert running["status"] == "running" and running["finished_at"] is None
    for _ in range(25):
        store.start_run("3", "test")
    assert len(store.runs("3")) == 20 and len(store.runs()) == 20  # the newest 20 unless asked


# cursors and leases ----------------------------------------------------------------------


def test_cursors_keep_json_values_until_set_to_none(store):
    """A cursor holds any JSON value, is replaced by the next, and goes when set to None."""
    assert store.cursor("backfill:1") is None
    store.set_cursor("backfill:1", {"page": 3, "ids": [1, 2]})
    assert store.cursor("backfill:1") == {"page": 3, "ids": [1, 2]}
    store.set_cursor("backfill:1", 4)
    assert store.cursor("backfill:1") == 4
    store.set_cursor("backfill:1", None)
    assert store.cursor("backfill:1") is None
    store.set_cursor("backfill:1", None)  # nothing to delete: fine


def test_contact_prediction_source_and_setup_credentials_are_per_project(store):
    """The first-contact state, the prediction-source state and the credentials the latest
    /setup sent are kept per project."""
    store.set_contact("1", status="imported", at=1.5)
    store.set_prediction_source("1", version="v1")
    assert store.contact("1") == {"status": "imported", "at": 1.5} and store.contact("2") is None
    assert store.prediction_source("1") == {"version": "v1"} and store.prediction_source("2") is None
    store.set_contact("1", status="failed")
    assert store.contact("1") == {"status": "failed"}
    assert store.cursor("contact:1") == {"status": "failed"}
    assert store.setup_credentials("1") is None
    store.set_setup_credentials("1", "http://ls:8080", "token-1")
    store.set_setup_credentials("2", "http://other", "token-2")
    assert store.setup_credentials("1") == {"url": "http://ls:8080", "api_key": "token-1"}
    assert store.setup_credentials("2") == {"url": "http://other", "api_key": "token-2"}


def test_a_lease_is_held_by_one_holder_until_released_or_expired(store):
    """A lease refuses other holders while it runs, is renewed by its holder, freed only by its
    holder, and taken over once expired."""
    assert store.take_lease("upload:1", "a", 60)
    assert store.take_lease("upload:1", "a", 60)
    assert not store.take_lease("upload:1", "b", 60)
    assert store.take_lease("upload:2", "b", 60)  # another lease
    store.release_lease("upload:1", "b")
    assert not store.take_lease("upload:1", "b", 60)
    store.release_lease("upload:1", "a")
    assert store.take_lease("upload:1", "b", 0.05)
    assert not store.take_lease("upload:1", "a", 60)
    time.sleep(0.1)
    assert store.take_lease("upload:1", "a", 60)  # b's expired
    store.release_lease("upload:3", "a")  # none held: nothing happens
    lease = store.cursor("lease:upload:1")
    assert lease["holder"] == "a" and lease["until"] > time.time() + 50


def test_a_store_written_by_another_connection_is_read_at_once(tmp_path):
    """Two Store objects on one file (the web and worker processes) see each other's writes."""
    path = tmp_path / "backend.db"
    web, worker = Store(path), Store(path)
    web.save_annotations("1", [note(1, "a")], [])
    assert worker.count_annotations("1") == 1
    worker.mark_pending("1", "j1")
    assert web.project("1")["job"] == "j1"
    conn = sqlite3.connect(path)
    assert json.loads(conn.execute("SELECT answer FROM annotations").fetchone()[0]) == "a"
    conn.close()


# training leases -------------------------------------------------------------------------


def test_a_claimed_training_is_leased_to_its_holder_and_renewed_only_by_it(store):
    """Claiming records the holder and a lease; only the holder renews it, and a finished
    training leaves no lease behind."""
    store.mark_pending("1", "j1")
    before = time.time()
    status, _ = store.claim_training("1", "worker-a", 30)
    state = store.project("1")
    assert status == "claimed" and state["holder"] == "worker-a"
    assert before + 29 < state["lease_until"] < time.time() + 31
    assert store.renew_lease("1", "worker-a", 60) and store.project("1")["lease_until"] > before + 59
    assert not store.renew_lease("1", "worker-b", 60)
    assert not store.renew_lease("2", "worker-a", 60)  # no such training
    store.finish_training("1", changes_back=0, holder="worker-b")  # not its training: nothing happens
    assert store.project("1")["running"] == 1
    store.finish_training("1", changes_back=0, holder="worker-a")
    state = store.project("1")
    assert state["running"] == 0 and state["holder"] is None and state["lease_until"] is None
    assert not store.renew_lease("1", "worker-a", 60)


def test_a_training_under_a_live_lease_is_busy_and_an_expired_one_is_taken_over(store):
    """While a worker's lease runs, its project's next queued training waits ('busy'); once the
    lease expires (the worker died), the next claim takes the training over and the dead
    worker's run is marked interrupted."""
    store.mark_pending("1", "j1")
    store.claim_training("1", "worker-a", 0.2)
    dead_run = store.start_run("1", "webhook")
    store.mark_pending("1", "j2")
    assert store.claim_training("1", "worker-b", 30) == ("busy", None)
    time.sleep(0.3)
    status, _ = store.claim_training("1", "worker-b", 30)
    assert status == "claimed" and store.project("1")["holder"] == "worker-b"
    assert [r["status"] for r in store.runs("1") if r["id"] == dead_run] == ["interrupted"]


def test_publishing_after_losing_the_lease_records_nothing(store):
    """A worker that lost its training (its lease expired and another took it over) cannot
    publish: the version is not recorded and the new holder's training stays running."""
    store.mark_pending("1", "j1")
    _, claimed = store.claim_training("1", "worker-a", 0.05)
    time.sleep(0.1)
    store.mark_pending("1", "j2")
    store.claim_training("1", "worker-b", 30)
    with pytest.raises(LeaseLost):
        store.publish_version(version_record("1", 1), True, claimed, holder="worker-a")
    assert store.versions("1") == [] and store.served_version("1") is None
    state = store.project("1")
    assert state["running"] == 1 and state["holder"] == "worker-b"
    store.publish_version(version_record("1", 1), True, claimed, holder="worker-b")
    assert store.served_version("1") == "1-v1" and store.project("1")["holder"] is None


def test_reaping_requeues_dead_workers_trainings_and_late_queued_ones(store):
    """`reap` queues again the trainings whose lease expired (interrupting their runs) and the
    queued ones not started `grace` seconds after they were due, each once; it leaves live
    trainings and trainings not yet late alone."""
    for project in ("dead", "live", "late", "fresh"):
        store.mark_pending(project, f"job-{project}", delay=0 if project != "fresh" else 30)
    store.claim_training("dead", "worker-a", 0.05)
    dead_run = store.start_run("dead", "webhook")
    store.claim_training("live", "worker-b", 30)
    live_run = store.start_run("live", "webhook")
    time.sleep(0.15)
    assert sorted(store.reap(grace=0.1)) == [("dead", "job-dead"), ("late", "job-late")]
    dead = store.project("dead")
    assert dead["pending"] == 1 and dead["running"] == 0 and dead["holder"] is None
    assert {r["id"]: r["status"] for r in store.runs()} == {dead_run: "interrupted", live_run: "running"}
    assert store.reap(grace=0.1) == []  # marked due now: not late again at once
    assert store.project("live")["running"] == 1
    assert store.claim_training("dead", "worker-b", 30)[0] == "claimed"


def test_a_store_stamps_when_a_queued_training_is_due(store):
    """mark_pending records when the training is due (now plus its debounce delay)."""
    before = time.time()
    store.mark_pending("1", "j1", delay=5)
    assert before + 5 <= store.project("1")["due_at"] <= time.time() + 5


# several writers at once (web replicas, workers) ------------------------------------------


def test_concurrent_writers_on_two_stores_lose_and_duplicate_nothing(location):
    """Two stores on one database (two replicas), eight threads each, saving overlapping
    annotations of two projects at once: every annotation is stored once, every write got its
    own seq, the change counts add up, and exactly one of many concurrent mark_pending calls
    queues a training."""
    replicas = [Store(location), Store(location)]
    errors: list[BaseException] = []
    queued: list[bool] = []

    def writer(store: Store, worker: int) -> None:
        try:
            for i in range(25):
                annotation = (worker * 25 + i) % 150 + 1  # ids overlap between threads
                store.save_annotations(str(annotation % 2), [note(annotation, "a")], [])
                queued.append(store.mark_pending("p", f"job-{worker}-{i}")[0])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(replicas[n % 2], n)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = replicas[0]
    assert store.count_annotations() == 150
    assert store.annotation_ids("0") == set(range(2, 151, 2)) and store.annotation_ids("1") == set(range(1, 151, 2))
    seqs = [seq for project in ("0", "1") for _, _, seq in store.annotations(project)]
    assert len(set(seqs)) == 150 and max(seqs) == 400  # 16 x 25 writes, each its own seq
    assert store.project("0")["changes"] + store.project("1")["changes"] == 400
    assert queued.count(True) == 1 and len(queued) == 400
    for replica in replicas:
        replica.close()


def test_reaping_leaves_late_trainings_alone_unless_the_queue_is_empty(store):
    """A queued training past its time may just wait behind others on a busy queue: without
    `late` (the caller saw entries on the queue), only dead workers' trainings come back."""
    store.mark_pending("late", "job-late")
    store.mark_pending("dead", "job-dead")
    store.claim_training("dead", "worker-a", 0.05)
    time.sleep(0.15)
    assert store.reap(grace=0.1, late=False) == [("dead", "job-dead")]
    assert store.reap(grace=0.1) == [("late", "job-late")]


def test_has_annotations_counts_up_to_what_it_needs(store):
    """has_annotations(project, n): at least n annotations of that project (never another's)."""
    store.save_annotations("1", [note(i, "a") for i in range(1, 6)], [])
    store.save_annotations("2", [note(9, "a")], [])
    assert store.has_annotations("1", 5) and not store.has_annotations("1", 6)
    assert store.has_annotations("2", 1) and not store.has_annotations("2", 2)
    assert not store.has_annotations("3", 1) and store.has_annotations("3", 0)


def test_the_next_seq_is_read_from_an_index(store):
    """Saving an annotation reads the highest seq through an index, not a scan of the store
    (at a million annotations a scan made every webhook take 30-50 ms)."""
    store.save_annotations("1", [note(1, "a")], [])
    if store.engine == "sqlite":
        plan = " ".join(str(row) for row in store.database.execute(
            "EXPLAIN QUERY PLAN SELECT coalesce(max(seq), 0) FROM annotations"))
        assert "annotations_seq" in plan
    else:
        store.database.execute("SET enable_seqscan = off")  # a tiny table: the planner would scan
        plan = " ".join(row[0] for row in store.database.execute(
            "EXPLAIN SELECT coalesce(max(seq), 0) FROM annotations"))
        assert "annotations_seq" in plan
