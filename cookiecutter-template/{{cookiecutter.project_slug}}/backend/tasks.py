"""The Huey tasks the service runs in the background: training, backfill then training, and
the scheduled full retraining."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .labelstudio import LabelStudioError
from .queue import request_training
from .schedule import parse_schedule
from .sync import backfill, client_from_settings
from .trainer import train_project

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)
BUSY_RETRY_SECONDS = 5.0


def register_tasks(service: Service) -> Any:
    """Define the `train` task (and, with training.schedule, the periodic full retraining) on
    the service's Huey instance. Returns the `train` task."""

    @service.huey.task(name="train")
    def train(project: str, trigger: str) -> None:
        outcome = train_project(service, project, trigger)
        if outcome["status"] == "busy":
            train.schedule((project, trigger), delay=BUSY_RETRY_SECONDS)

    @service.huey.task(name="backfill")
    def backfill_then_train(project: str) -> None:
        """START_TRAINING on a project never backfilled: pull its annotations first."""
        try:
            outcome = backfill(service, project, client_from_settings(service.settings))
            log.info("project %s: backfilled %s", project, outcome)
        except LabelStudioError as exc:
            log.warning("project %s: backfill failed, training on what the store has: %s", project, exc)
        request_training(service, project, "START_TRAINING", force=True)

    service.backfill_task = backfill_then_train
    schedule = service.config.training.schedule
    if schedule:

        @service.huey.periodic_task(parse_schedule(schedule), name="scheduled_training")
        def scheduled_training() -> None:
            for row in service.store.projects():
                if service.store.count_annotations(row["project"]):
                    request_training(service, row["project"], "schedule", force=True)

    return train
