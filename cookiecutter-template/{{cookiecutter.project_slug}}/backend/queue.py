"""When to train, and coalescing triggers into the Huey queue (tasks.py defines what runs).

A project has at most one queued training. An event that finds one queued adds nothing (its
annotation is already in the store, and the queued training reads the store when it starts);
an event during a training queues exactly one follow-up. Trainings of one project never
overlap: a training that finds another running is put back on the queue.

Nothing is lost with a process: a training queued or running when the only worker stopped is
queued again when it starts (`recover`), and with several workers sharing the state, every
worker's reaper queues again the trainings of a dead one (`reap`, via their expired leases).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)
# With "start training on annotation submission" on, Label Studio sends START_TRAINING inside
# the submit request, before the ANNOTATION_CREATED webhook of that very annotation: a forced
# training waits this long at least, so it includes it.
FORCED_MIN_DELAY_SECONDS = 1.0


def training_due(service: Service, project: str) -> bool:
    """Whether the training policy asks for a training now."""
    policy = service.config.training
    state = service.store.project(project)  # first: most webhooks stop here, on one row
    if state["version"] is not None and state["changes"] < policy.retrain_every:
        return False
    if not service.store.has_annotations(project, policy.min_annotations):
        return False
    per_class = policy.min_per_class
    return not (per_class and service.target.readiness(service.store.answer_counts(project), per_class))


def request_training(service: Service, project: str, trigger: str, force: bool = False) -> str | None:
    """Queue a training if the policy (or `force`) asks for one. Returns the job id of the
    queued training, which may be one queued earlier, or None when none is due. A forced
    training (Start Training, the schedule, a backfill) is always a full refit."""
    if not force and not training_due(service, project):
        return None
    delay = service.config.training.debounce_seconds
    if force:
        delay = max(delay, FORCED_MIN_DELAY_SECONDS)
    queued, job = service.store.mark_pending(project, uuid.uuid4().hex, full=force, delay=delay)
    if queued:
        enqueue(service, project, trigger, job, delay)
    return job


def enqueue(service: Service, project: str, trigger: str, job: str, delay: float = 0) -> None:
    if delay > 0 and not service.huey.immediate:  # immediate mode (tests) runs tasks at once
        service.tasks.train.schedule((project, trigger), delay=delay, id=job)
    else:
        task = service.tasks.train.s(project, trigger)
        task.id = job
        service.huey.enqueue(task)


def enqueue_backfill(service: Service, project: str) -> str:
    """Queue a backfill of the project followed by a training; returns the job id."""
    task = service.tasks.backfill.s(project)
    service.huey.enqueue(task)
    return str(task.id)


def enqueue_first_contact(service: Service, project: str, url: str, api_key: str) -> str:
    """Queue the import of the project's existing annotations from Label Studio at `url`
    (then a training if the policy asks); returns the job id. Marked at once, so that the
    /setup calls Label Studio repeats while it runs queue nothing more."""
    service.store.set_contact(project, status="queued", at=time.time(), url=url)
    task = service.tasks.first_contact.s(project, url, api_key)
    service.huey.enqueue(task)
    return str(task.id)


def enqueue_follow(service: Service, project: str) -> None:
    """Queue making the served version Label Studio's prediction source (after a rollback)."""
    service.huey.enqueue(service.tasks.follow.s(project))


def recover(service: Service) -> None:
    """At a worker's start: queue again every training that was queued or running when the
    service last stopped. With several workers (the distributed mode) the others may be
    training: only the trainings of dead workers are queued again."""
    if service.settings.distributed:
        reap(service)
        return
    for project, job in service.store.recover():
        log.info("project %s: queuing the training interrupted by the last shutdown", project)
        enqueue(service, project, "recovery", job or uuid.uuid4().hex)


def reap(service: Service) -> None:
    """Queue again the trainings whose worker died (expired lease), and, when the queue holds
    nothing, those queued long past their time (their entry went with a worker that died as it
    took it). Every worker calls it now and then."""
    empty = service.huey.pending_count() == 0 and service.huey.scheduled_count() == 0
    for project, job in service.store.reap(late=empty):
        log.warning("project %s: queuing again a training whose worker stopped", project)
        enqueue(service, project, "recovery", job or uuid.uuid4().hex)
