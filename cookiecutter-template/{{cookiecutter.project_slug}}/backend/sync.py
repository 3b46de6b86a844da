"""Move annotations and predictions between Label Studio and the service, resumably.

- backfill: pull a project's existing annotations from Label Studio's API into the store
  (annotations made before the backend was connected never arrive as webhooks);
- import-export: the same from a Label Studio JSON export file;
- autolabel: predict the project's unlabeled tasks and upload the predictions, or, above a
  score threshold, annotations marked as coming from the model.

Each job keeps a cursor in the store, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from .ingest import project_key, store_tasks
from .labelstudio import LabelStudio, LabelStudioError
from .predictor import predict_tasks
from .queue import enqueue_first_contact, request_training
from .settings import Settings
from .store import now

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)


def client_from_settings(settings: Settings, max_rate: float | None = None) -> LabelStudio:
    return LabelStudio(settings.label_studio_url, settings.label_studio_api_key, max_rate=max_rate)


def backfill(service: Service, project: str, client: LabelStudio, page_size: int = 100,
             restart: bool = False, progress: Callable[[int, int, int], None] | None = None) -> dict[str, int]:
    """Pull the project's annotations page by page; a rerun resumes after the last page stored.

    A pass from the first page to the last also removes the stored annotations that Label
    Studio no longer has (deleted while the backend was offline), except any written while
    the pass ran; a resumed pass has not seen the first pages, so it removes nothing.
    """
    cursor = f"backfill:{project}"
    start = 1 if restart else (service.store.cursor(cursor) or 1)
    began = now()
    stored = unusable = pages = read = 0
    seen: set[int] = set()
    for page, tasks in client.tasks(project, page_size=page_size, first_page=start):
        added, skipped = store_tasks(service, project, tasks)
        seen |= {a["id"] for t in tasks for a in t.get("annotations") or []
                 if isinstance(a, dict) and isinstance(a.get("id"), int)}
        stored, unusable, pages, read = stored + added, unusable + skipped, pages + 1, read + len(tasks)
        service.store.set_cursor(cursor, page + 1)
        log.debug("project %s: page %d: %d annotations stored, %d not usable", project, page, stored, unusable)
        if progress:
            progress(read, stored, unusable)
    removed = 0
    if start == 1:
        gone = sorted(service.store.annotation_ids(project, written_before=began) - seen)
        removed = service.store.save_annotations(project, [], gone) if gone else 0
    service.store.set_cursor(cursor, None)
    service.store.set_cursor(f"backfilled:{project}", True)
    return {"pages": pages, "stored": stored, "unusable": unusable, "removed": removed, "resumed_at_page": start}


def backfilled(service: Service, project: str) -> bool:
    return bool(service.store.cursor(f"backfilled:{project}"))


CONTACT_RETRY_SECONDS = 600  # after a failed import, a /setup tries again this much later
SYNC_RATE = 5.0  # requests a second to Label Studio from background jobs
UPLOAD_LEASE_SECONDS = 300  # an upload that stops renewing its lease (a killed process) frees it then
UPLOAD_WAIT_SECONDS = 600


def first_contact_due(service: Service, project: str) -> bool:
    """Whether a /setup of this project should start importing its annotations: the backend
    has none of them, has not imported them, and has not failed to in the last minutes."""
    if backfilled(service, project) or service.store.has_annotations(project, 1):
        return False
    contact = service.store.contact(project)
    return contact is None or (contact["status"] == "failed" and
                               time.time() - contact["at"] > CONTACT_RETRY_SECONDS)


def start_first_contact(service: Service, project: str, hostname: str | None, token: str | None) -> None:
    """Queue the import of what Label Studio already holds for the project: with
    LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY when set, else with what /setup sent."""
    settings = service.settings
    url, key = ((settings.label_studio_url, settings.label_studio_api_key) if settings.can_reach_label_studio
                else (hostname, token))
    if url and key:
        enqueue_first_contact(service, project, url, key)
    else:
        service.store.set_contact(project, status="failed", at=time.time(), url=url or "",
                                  problem="Label Studio sent no address or token to reach it: set LABEL_STUDIO_URL "
                                          "and LABEL_STUDIO_API_KEY to import the project's existing annotations")


def contact_problem(error: str) -> str:
    """What an import failure means for a user, and what to set."""
    if "401" in error:
        return (f"Label Studio refused the token ({error}). Its /setup sends the project owner's legacy "
                "token, which organisations have disabled by default since 1.17: set LABEL_STUDIO_URL and "
                "LABEL_STUDIO_API_KEY (a personal access token from Account & Settings) for this backend, "
                "or enable legacy tokens in the organisation's settings")
    return (f"cannot reach Label Studio ({error}). Set LABEL_STUDIO_URL to an address of Label Studio that "
            "this backend can reach (and LABEL_STUDIO_API_KEY); until then it learns from new annotations only")


def import_export(service: Service, path: Path, project: str | None) -> dict[str, Any]:
    """Record the annotations of a Label Studio JSON export (a list of tasks)."""
    tasks = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(tasks, list):
        raise ValueError(f"{path} is not a Label Studio JSON export (a list of tasks)")
    by_project: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        if isinstance(task, dict):
            key = project or project_key(task.get("project"))
            if key is None:
                raise ValueError("the export does not say the project of its tasks: pass --project")
            by_project.setdefault(key, []).append(task)
    totals = {}
    for key, project_tasks in by_project.items():
        stored, unusable = store_tasks(service, key, project_tasks)
        totals[key] = {"stored": stored, "unusable": unusable}
    return totals


def label_studio_for(service: Service, project: str) -> LabelStudio | None:
    """A client of the Label Studio the project lives in: with LABEL_STUDIO_URL and
    LABEL_STUDIO_API_KEY when set, else with the address and token its /setup sent, once they
    have proved to work (the project's annotations were imported with them); else None."""
    if service.settings.can_reach_label_studio:
        return client_from_settings(service.settings, max_rate=SYNC_RATE)
    contact = service.store.contact(project)
    if contact and contact["status"] == "imported" and contact.get("api_key"):
        return LabelStudio(contact["url"], contact["api_key"], max_rate=SYNC_RATE)
    return None


def remember_setup(service: Service, project: str, hostname: str | None, token: str | None) -> None:
    """Keep the address and token a /setup sent, when they changed: a project whose tasks hold
    images reads them from Label Studio with these (files_client_for)."""
    if hostname and token and service.store.setup_credentials(project) != {"url": hostname, "api_key": token}:
        service.store.set_setup_credentials(project, hostname, token)


def files_client_for(service: Service, project: str) -> LabelStudio | None:
    """A client to read the project's task files (images) with: label_studio_for's, else one
    with what the project's latest /setup sent, proved or not (a file it cannot read is logged
    and left out, so an unproved token costs nothing more)."""
    client = label_studio_for(service, project)
    if client is not None:
        return client
    sent = service.store.setup_credentials(project)
    return LabelStudio(sent["url"], sent["api_key"], max_rate=SYNC_RATE) if sent else None


def follow_served_version(service: Service, project: str, client: LabelStudio) -> dict[str, Any]:
    """Point the project's prediction source (its model_version) at the served version, so
    that sorting by prediction score in the Data Manager ranks this version's scores: upload
    its predictions for the unlabeled tasks, then switch (Label Studio accepts a version only
    once it has predictions of it)."""
    outcome = autolabel(service, project, client, wait_seconds=0)  # busy: the caller comes back later
    client.set_model_version(project, outcome["model_version"])
    return outcome


def autolabel(service: Service, project: str, client: LabelStudio, batch_size: int = 100,
              threshold: float | None = None, limit: int | None = None,
              progress: Callable[[int, int, int], None] | None = None,
              wait_seconds: float = UPLOAD_WAIT_SECONDS) -> dict[str, Any]:
    """Predict the unlabeled tasks with the served model and upload the predictions; with a
    `threshold`, tasks scored at least that get an annotation made from the prediction as well.
    A task that already has a prediction of the served version (a rerun, or the backend's own
    upload when it follows its versions) is not predicted again: with a threshold, that
    prediction is the one annotated. So a rerun resumes, without duplicates."""
    with uploading(service, project, wait_seconds) as renew:
        return _autolabel(service, project, client, batch_size, threshold, limit, progress, renew)


class UploadBusy(LabelStudioError):
    """Another process is uploading predictions to the project."""


@contextmanager
def uploading(service: Service, project: str, wait_seconds: float = UPLOAD_WAIT_SECONDS) -> Iterator[Callable[[], None]]:
    """Upload predictions to the project alone: an autolabel command and the worker following a
    new version would otherwise both upload a task's prediction. Waits for the other (up to
    `wait_seconds`); yields a function that renews the lease, called after each page."""
    holder, name = uuid.uuid4().hex, f"upload:{project}"
    waited = 0.0
    while not service.store.take_lease(name, holder, UPLOAD_LEASE_SECONDS):
        if waited >= wait_seconds:
            raise UploadBusy(f"another upload to project {project} is running; try again later")
        time.sleep(0.5)
        waited += 0.5
    try:
        yield lambda: service.store.take_lease(name, holder, UPLOAD_LEASE_SECONDS)
    finally:
        service.store.release_lease(name, holder)


def _autolabel(service: Service, project: str, client: LabelStudio, batch_size: int, threshold: float | None,
               limit: int | None, progress: Callable[[int, int, int], None] | None,
               renew: Callable[[], None]) -> dict[str, Any]:
    loaded = service.registry.current(project)
    if loaded is None:
        raise LabelStudioError(f"project {project} has no trained model yet")
    version = loaded.version
    cursor = f"autolabel:{project}:{version}"
    start = service.store.cursor(cursor) or 1
    seen = predicted = annotated = scanned = 0
    for page, tasks in client.tasks(project, page_size=batch_size, first_page=start):
        unlabeled = [t for t in tasks if not t.get("annotations") and not t.get("is_labeled")]
        if limit is not None:
            unlabeled = unlabeled[: max(limit - seen, 0)]
        seen += len(unlabeled)
        uploaded = {t["id"]: p for t in unlabeled for p in t.get("predictions") or []
                    if p.get("model_version") == version}
        todo = [t for t in unlabeled if t["id"] not in uploaded]
        results = predict_tasks(service, project, todo) if todo else []
        bulk = []
        for task, result in zip(todo, results):
            if not result["result"] and not result["score"]:
                continue  # a task the model could not read (an empty set of choices is a prediction)
            prediction = {"task": task["id"], **result}
            if _confident(prediction, threshold):
                prediction["id"] = client.create_prediction(prediction)
                uploaded[task["id"]] = prediction
                predicted += 1
            else:
                bulk.append(prediction)
        if bulk:
            client.import_predictions(project, bulk)
            predicted += len(bulk)
        for task_id, prediction in uploaded.items():
            if _confident(prediction, threshold):
                regions = [{**region, "origin": "prediction"} for region in prediction["result"]]
                client.create_annotation(task_id, {"result": regions, "parent_prediction": prediction.get("id"),
                                                   "was_cancelled": False, "ground_truth": False})
                annotated += 1
        service.store.set_cursor(cursor, page + 1)
        renew()
        scanned += len(tasks)
        if progress:
            progress(scanned, predicted, annotated)
        if limit is not None and seen >= limit:
            break
    service.store.set_cursor(cursor, None)
    return {"model_version": version, "tasks": seen, "predictions": predicted, "annotations": annotated}


def _confident(prediction: dict[str, Any], threshold: float | None) -> bool:
    """Whether a prediction is sure enough to become an annotation (an empty one never is)."""
    return threshold is not None and bool(prediction.get("result")) and (prediction.get("score") or 0) >= threshold


# the command line ---------------------------------------------------------------------------


def progress_bar(client: LabelStudio, project: str, what: str) -> tqdm:
    """A progress bar over the project's tasks (total, rate, time left), on stderr."""
    return tqdm(total=client.task_count(project), unit="task", desc=f"project {project}: {what}",
                file=sys.stderr, dynamic_ncols=True)


def run_backfill(service: Service, args: argparse.Namespace) -> int:
    client = client_from_settings(service.settings)
    try:
        with progress_bar(client, args.project, "backfill") as bar:
            def show(read: int, stored: int, unusable: int) -> None:
                bar.set_postfix(stored=stored, unusable=unusable, refresh=False)
                bar.update(read - bar.n)

            outcome = backfill(service, args.project, client, args.page_size, args.restart, progress=show)
    except LabelStudioError as exc:
        print(f"error: {exc} (run the command again to resume)", file=sys.stderr)
        return 1
    if args.train:
        outcome["training_job"] = request_training(service, args.project, "backfill", force=True)
    print(json.dumps(outcome, indent=2))
    return 0


def run_import_export(service: Service, args: argparse.Namespace) -> int:
    try:
        outcome = import_export(service, args.file, args.project)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(outcome, indent=2))
    return 0


def run_autolabel(service: Service, args: argparse.Namespace) -> int:
    client = client_from_settings(service.settings, args.rate)
    try:
        with progress_bar(client, args.project, "autolabel") as bar:
            def show(scanned: int, predicted: int, annotated: int) -> None:
                bar.set_postfix(predictions=predicted, annotations=annotated, refresh=False)
                bar.update(scanned - bar.n)

            outcome = autolabel(service, args.project, client, args.batch_size, args.threshold, args.limit,
                                progress=show)
    except LabelStudioError as exc:
        print(f"error: {exc} (run the command again to resume)", file=sys.stderr)
        return 1
    print(json.dumps(outcome, indent=2))
    return 0


SYNC_COMMANDS = {"backfill": run_backfill, "import-export": run_import_export, "autolabel": run_autolabel}
