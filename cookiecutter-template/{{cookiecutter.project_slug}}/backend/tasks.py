"""The Huey tasks the service runs in the background: training, backfill then training, the
import of what Label Studio has at first contact, following the served version in Label
Studio, and the scheduled full retraining."""

from __future__ import annotations

import logging
import time

from .labelstudio import LabelStudio, LabelStudioError
from .queue import request_training
from .schedule import parse_schedule
from .service import Service, Tasks
from .sync import (
    UploadBusy,
    backfill,
    client_from_settings,
    contact_problem,
    follow_served_version,
    label_studio_for,
)
from .trainer import train_project

log = logging.getLogger(__name__)
BUSY_RETRY_SECONDS = 5.0
FOLLOW_RETRY_SECONDS = 30.0  # when another upload to the project runs
SCHEDULE_LEASE_SECONDS = 50.0  # under a minute, the schedule's finest step
FIRST_CONTACT_RATE = 5.0  # requests a second to Label Studio while importing a project's annotations


def register_tasks(service: Service) -> Tasks:
    """Define the service's tasks (and, with training.schedule, the periodic full retraining)
    on its Huey instance."""

    @service.huey.task(name="train")
    def train(project: str, trigger: str) -> None:
        outcome = train_project(service, project, trigger)
        if outcome["status"] == "busy":
            train.schedule((project, trigger), delay=BUSY_RETRY_SECONDS)
        elif outcome["status"] == "succeeded" and outcome["served"]:
            follow(project)

    @service.huey.task(name="follow_served_version")
    def follow(project: str) -> None:
        """A new version is served: make it Label Studio's prediction source, when the backend
        can reach Label Studio (else the README says which setting to pick by hand)."""
        client = label_studio_for(service, project)
        if client is None:
            return
        try:
            outcome = follow_served_version(service, project, client)
        except UploadBusy:  # an autolabel command is uploading: come back when it is done
            follow.schedule((project,), delay=FOLLOW_RETRY_SECONDS)
            return
        except LabelStudioError as exc:
            log.warning("project %s: could not make the served version Label Studio's prediction source: %s",
                        project, exc)
            service.store.set_prediction_source(project, error=str(exc), at=time.time())
            return
        service.store.set_prediction_source(project, version=outcome["model_version"], at=time.time())
        log.info("project %s: Label Studio's prediction source is now %s (%d predictions uploaded)",
                 project, outcome["model_version"], outcome["predictions"])

    @service.huey.task(name="backfill")
    def backfill_then_train(project: str) -> None:
        """START_TRAINING on a project never backfilled: pull its annotations first."""
        try:
            outcome = backfill(service, project, client_from_settings(service.settings))
            log.info("project %s: backfilled %s", project, outcome)
        except LabelStudioError as exc:
            log.warning("project %s: backfill failed, training on what the store has: %s", project, exc)
        request_training(service, project, "START_TRAINING", force=True)

    @service.huey.task(name="first_contact")
    def learn_what_label_studio_has(project: str, url: str, api_key: str) -> None:
        """Label Studio connected a project the backend knows nothing of: import the annotations
        it already holds (paced, resumable), then train as the policy says."""
        try:
            # one retry: an address that does not answer is a setting to fix, not a hiccup to wait out
            client = LabelStudio(url, api_key, timeout=10.0, max_rate=FIRST_CONTACT_RATE, retries=1)
            outcome = backfill(service, project, client)
        except LabelStudioError as exc:
            problem = contact_problem(str(exc))
            service.store.set_contact(project, status="failed", at=time.time(), url=url, problem=problem)
            log.warning("project %s: cannot import its annotations from Label Studio: %s", project, problem)
            return
        service.store.set_contact(project, status="imported", at=time.time(), url=url, stored=outcome["stored"],
                                  api_key=api_key)  # it works: kept for following the served version
        log.info("project %s: imported %d annotations from Label Studio at %s", project, outcome["stored"], url)
        request_training(service, project, "first contact")

    schedule = service.config.training.schedule
    scheduled_training = None
    if schedule:

        @service.huey.periodic_task(parse_schedule(schedule), name="scheduled_training")
        def scheduled_training() -> None:
            # every worker's consumer runs the schedule: the first to take this minute's lease acts
            if not service.store.take_lease("scheduled_training", service.holder, SCHEDULE_LEASE_SECONDS):
                return
            for row in service.store.projects():
                if service.store.has_annotations(row["project"], 1):
                    request_training(service, row["project"], "schedule", force=True)

    return Tasks(train=train, backfill=backfill_then_train, first_contact=learn_what_label_studio_has, follow=follow,
                 scheduled=scheduled_training)
