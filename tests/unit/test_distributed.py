"""The distributed mode in one process, on a real PostgreSQL and a real Redis: the settings that
choose it, training on PostgreSQL with models in MODELS_DIR, coalescing into one scheduled task
on Redis, a dead worker's training queued again and run by another, a lease kept alive while a
training runs, and a worker that lost its training publishing nothing. (tests/e2e/test_scale_out.py
runs the same with real processes behind a real balancer.)"""

from __future__ import annotations

import time
from datetime import UTC

import pytest
from backend import queue
from backend.leases import TrainingLease
from backend.registry import SERVED_VERSION_SECONDS
from backend.settings import load_settings, mode_problem
from backend.trainer import train_project
from test_trainer import add, make_service


@pytest.fixture
def engines(postgres_url, redis_url, tmp_path):
    """The environment of a process in the distributed mode (its own MODEL_DIR, shared models)."""
    return {"DATABASE_URL": postgres_url, "REDIS_URL": redis_url, "MODELS_DIR": str(tmp_path / "shared-models")}


def distributed_service(tmp_path, engines, immediate=True, **sections):
    service = make_service(tmp_path, engines, **sections)
    if not immediate:
        service.huey.immediate = False  # Huey on Redis itself, not its in-memory stand-in
    return service


def test_the_mode_needs_both_servers_and_valid_urls(tmp_path):
    """DATABASE_URL and REDIS_URL go together; each must be a URL of its engine."""
    service = make_service(tmp_path)
    spec = service.spec

    def problem(**environ):
        return mode_problem(load_settings(spec, environ))

    assert problem() is None
    both = {"DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h:6379/0"}
    assert "MODELS_DIR" in problem(**both)  # each process would keep its own model files
    assert problem(**both, MODELS_DIR="/shared/models") is None
    assert "REDIS_URL is not" in problem(DATABASE_URL="postgresql://u@h/db")
    assert "DATABASE_URL is not" in problem(REDIS_URL="redis://h:6379/0")
    assert "PostgreSQL URL" in problem(DATABASE_URL="mysql://h/db", REDIS_URL="redis://h")
    assert "Redis URL" in problem(DATABASE_URL="postgresql://h/db", REDIS_URL="http://h")
    assert "positive" in problem(TRAINING_LEASE_SECONDS="0")
    settings = load_settings(spec, {"MODEL_DIR": str(tmp_path / "m")})
    assert not settings.distributed and settings.models_dir == (tmp_path / "m" / "models").resolve()


def test_a_training_on_postgresql_writes_its_model_to_models_dir_and_no_sqlite_file(tmp_path, engines):
    """Distributed, the state is in PostgreSQL and the model in MODELS_DIR: MODEL_DIR holds no
    SQLite file, and a second process (another replica) serves the version at once."""
    service = distributed_service(tmp_path, engines)
    assert service.store.engine == "postgresql" and service.settings.distributed
    add(service, 1, 20)
    service.store.mark_pending("1", "job")
    outcome = train_project(service, "1", "test")
    assert outcome["status"] == "succeeded" and outcome["served"]
    record = service.store.version(outcome["version"])
    assert (tmp_path / "shared-models" / record["path"]).is_file()
    assert not list((tmp_path / "state").glob("*.db"))
    replica = distributed_service(tmp_path / "replica", engines)
    assert replica.registry.served_version("1") == outcome["version"]
    assert replica.registry.current("1").version == outcome["version"]
    [run] = replica.store.runs("1")
    assert run["status"] == "succeeded" and replica.store.project("1")["holder"] is None
    service.store.close()
    replica.store.close()


def test_webhooks_coalesce_into_one_scheduled_training_on_redis(tmp_path, engines):
    """Many training requests for a project put one task on Redis, due after the debounce;
    another project gets its own."""
    service = distributed_service(tmp_path, engines, immediate=False, training={"debounce_seconds": 30})
    add(service, 1, 20)
    add(service, 100, 20, project="2")
    before = time.time()
    jobs = {queue.request_training(service, "1", "webhook", force=True) for _ in range(5)}
    queue.request_training(service, "2", "webhook", force=True)
    assert len(jobs) == 1
    tasks = service.huey.pending()  # on Redis, each with its time (a consumer schedules it on reading)
    assert len(tasks) == 2 and {t.args[0] for t in tasks} == {"1", "2"}
    [task] = [t for t in tasks if t.id in jobs]
    assert before + 29 < task.eta.replace(tzinfo=UTC).timestamp() < time.time() + 31
    service.store.close()


def test_a_dead_workers_training_is_queued_again_and_run_by_another(tmp_path, engines):
    """A worker that claimed a training and died (its lease expired): the next reap puts the
    training on Redis, and the worker that takes it trains and serves under trigger 'recovery'."""
    service = distributed_service(tmp_path, engines, immediate=False)
    add(service, 1, 20)
    service.store.mark_pending("1", "job-1")
    assert service.store.claim_training("1", "dead-worker", 0.1)[0] == "claimed"
    dead_run = service.store.start_run("1", "webhook")
    time.sleep(0.2)
    queue.reap(service)
    assert service.huey.pending_count() == 1
    task = service.huey.dequeue()
    assert task.id == "job-1" and task.args == ("1", "recovery")
    service.huey.execute(task)
    runs = {run["id"]: run for run in service.store.runs("1")}
    assert runs[dead_run]["status"] == "interrupted"
    [recovery] = [run for run in runs.values() if run["trigger"] == "recovery"]
    assert recovery["status"] == "succeeded" and service.store.served_version("1") == recovery["version"]
    service.store.close()


def test_a_running_training_keeps_its_lease_beyond_its_length(tmp_path, engines):
    """While a training runs its lease is renewed: after three lease lengths the reaper still
    sees a live training held by its worker."""
    service = distributed_service(tmp_path, engines)
    service.store.mark_pending("1", "job")
    service.store.claim_training("1", service.holder, 0.3)
    with TrainingLease(service.store, "1", service.holder, 0.3) as lease:
        time.sleep(0.9)
        assert service.store.reap() == []
        assert not lease.lost
    state = service.store.project("1")
    assert state["running"] == 1 and state["holder"] == service.holder
    service.store.close()


def test_a_worker_that_lost_its_training_publishes_nothing(tmp_path, engines, monkeypatch):
    """A worker too slow to renew its lease (here: another worker takes the training over while
    it fits) writes no version and leaves no model file; its run is marked interrupted."""
    service = distributed_service(tmp_path, engines)
    add(service, 1, 20)
    import backend.trainer as trainer

    fit = trainer.fit_model

    def fit_then_lose(*args, **kwargs):
        model = fit(*args, **kwargs)
        service.store.database.execute("UPDATE projects SET holder = 'other-worker' WHERE project = '1'")
        return model

    monkeypatch.setattr(trainer, "fit_model", fit_then_lose)
    service.store.mark_pending("1", "job")
    outcome = train_project(service, "1", "test")
    assert outcome["status"] == "lost"
    assert service.store.versions("1") == [] and service.store.served_version("1") is None
    assert not list((tmp_path / "shared-models").rglob("*.skops"))
    [run] = service.store.runs("1")
    assert run["status"] == "interrupted" and "another worker" in run["detail"]
    assert service.store.project("1")["holder"] == "other-worker"  # the new holder's training runs on
    service.store.close()


def test_requests_get_a_503_while_postgresql_or_redis_cannot_be_reached(tmp_path, engines):
    """A request that finds PostgreSQL gone (here its database is dropped under the service)
    or Redis not answering gets a JSON 503 with Retry-After, not a 500; /health stays up."""
    from backend.app import create_app
    from engines import drop_database, free_port
    from test_images import call

    service = distributed_service(tmp_path, {**engines, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
                                  immediate=False, training={"min_annotations": 1})
    app = create_app(service)
    predict = {"tasks": [{"id": 1, "data": {"text": "lovely superb"}}], "project": "1.1"}
    assert call(app, "POST", "/predict", predict)[0] == 200
    webhook = {"action": "ANNOTATION_CREATED", "project": {"id": 1},
               "task": {"id": 5, "data": {"text": "great fine"}},
               "annotation": {"id": 9, "task": 5, "result": [{"from_name": "mood", "to_name": "text", "type": "choices",
                                                             "value": {"choices": ["pos"]}}]}}
    status, body = call(app, "POST", "/webhook", webhook)
    assert status == 503 and "cannot be reached" in body["error"]  # the queue (Redis) is down
    assert service.store.count_annotations("1") == 1  # stored before: the reaper queues its training later
    drop_database(engines["DATABASE_URL"])
    status, body = call(app, "GET", "/versions", None)
    assert status == 503 and "try again" in body["error"]
    time.sleep(SERVED_VERSION_SECONDS)  # /predict reads the served version again after this
    assert call(app, "POST", "/predict", predict)[0] == 503
    assert call(app, "GET", "/health", None)[0] == 200


def test_trainings_leave_no_database_connection_behind(tmp_path, engines):
    """Each training renews its lease from a thread of its own, whose connection closes with it:
    many trainings keep the number of PostgreSQL connections flat."""
    import psycopg

    service = distributed_service(tmp_path, engines)
    add(service, 1, 20)

    def connections() -> int:
        with psycopg.connect(engines["DATABASE_URL"], autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                " AND pid <> pg_backend_pid()").fetchone()[0]

    service.store.mark_pending("1", "job")
    train_project(service, "1", "test")
    before = connections()
    for n in range(4):
        service.store.mark_pending("1", f"job-{n}")
        assert train_project(service, "1", "test")["status"] == "succeeded"
    assert connections() == before
    service.store.close()


def test_the_schedule_fires_once_however_many_workers_run_it(tmp_path, engines):
    """Every worker's consumer runs training.schedule's periodic task; the first to take the
    minute's lease trains, the others do nothing."""
    workers = [distributed_service(tmp_path / f"worker{n}", engines, training={"schedule": "0 3 * * *"})
               for n in range(3)]
    add(workers[0], 1, 20)
    for worker in workers:
        worker.tasks.scheduled.call_local()  # the same tick, on every worker
    [run] = workers[0].store.runs("1")
    assert run["trigger"] == "schedule" and run["status"] == "succeeded"
    for worker in workers:
        worker.store.close()
