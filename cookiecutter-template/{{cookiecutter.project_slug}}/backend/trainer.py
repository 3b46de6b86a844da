"""Train one project's model from its stored annotations, measure it, and publish it.

A full training measures the spec's model (evaluation.py), refits it on every annotation, and
serves it if the promotion gate agrees. An incremental training (when the spec asks for it)
updates the served model with only the annotations written since, measuring it on them before
it learns them (test, then train).
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import sklearn

from .evaluation import compare, evaluate, promotion_decision
from .features import BadTaskError, RowReader, rows_to_matrix
from .leases import TrainingLease
from .model import fit_model
from .registry import ModelLoadError
from .store import LeaseLost
from .targets import Target, answer_key

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)


class NotEnoughDataError(ValueError):
    """The annotations cannot train a classifier yet."""


def train_project(service: Service, project: str, trigger: str) -> dict[str, Any]:
    """Run the project's queued training. Returns what happened, as stored in `runs`."""
    store, holder, lease = service.store, service.holder, service.settings.training_lease_seconds
    status, claimed = store.claim_training(project, holder, lease)
    if status != "claimed":
        return {"status": status}
    assert claimed is not None
    with TrainingLease(store, project, holder, lease):
        return run_training(service, project, trigger, claimed)


def run_training(service: Service, project: str, trigger: str, claimed: dict[str, Any]) -> dict[str, Any]:
    """Train, measure and publish the claimed training, recording the run."""
    store, holder = service.store, service.holder
    run_id = store.start_run(project, trigger)
    started = time.perf_counter()
    n_annotations = None
    try:
        served = served_model(service, project)
        if incremental_possible(service, claimed, served):
            model, record = incremental_update(service, project, served)
        else:
            model, record = full_training(service, project, served)
        n_annotations = record["n_annotations"]
        serve, reason = promotion_decision(service.config, service.target, served is not None, record)
        record.update(trigger=trigger, reason=reason, duration_s=round(time.perf_counter() - started, 4))
        keep = service.config.promotion.keep_versions
        version = service.registry.save(project, model, record, serve, claimed, keep, holder=holder)
    except LeaseLost as exc:
        store.end_run(run_id, "interrupted", time.perf_counter() - started, n_annotations, detail=str(exc))
        log.warning("%s; this worker's model is dropped", exc)
        return {"status": "lost", "detail": str(exc)}
    except NotEnoughDataError as exc:
        store.finish_training(project, changes_back=claimed["changes"], holder=holder)
        store.end_run(run_id, "skipped", time.perf_counter() - started, n_annotations, detail=str(exc))
        log.info("project %s: training skipped: %s", project, exc)
        return {"status": "skipped", "detail": str(exc)}
    except Exception as exc:
        store.finish_training(project, changes_back=claimed["changes"], holder=holder)
        detail = f"{type(exc).__name__}: {exc}"
        store.end_run(run_id, "failed", time.perf_counter() - started, n_annotations, detail=detail)
        log.exception("project %s: training failed; still serving the previous model", project)
        return {"status": "failed", "detail": detail}
    finally:
        release_memory()
    duration = time.perf_counter() - started
    store.end_run(run_id, "succeeded", duration, n_annotations, version=version,
                  detail=None if serve else f"not served: {reason}")
    log.info("project %s: %s training made %s on %d annotations in %.2fs (%s); %s",
             project, record["kind"], version, n_annotations, duration, _summary(service.target, record["metrics"]),
             "serving it" if serve else f"NOT serving it: {reason}")
    return {"status": "succeeded", "version": version, "served": serve, "reason": reason,
            "metrics": record["metrics"]}


def served_model(service: Service, project: str) -> Any:
    """The served model, or None if there is none or it cannot be loaded (a training then
    replaces it rather than failing too)."""
    try:
        return service.registry.current(project, fresh=True)
    except ModelLoadError as exc:
        log.warning("project %s: %s; training a new model from scratch", project, exc)
        return None


def incremental_possible(service: Service, claimed: dict[str, Any], served: Any) -> bool:
    """An incremental update is possible when the spec asks for it, a served model exists,
    nothing since the last full training needs a refit (a changed or deleted annotation, which
    a model cannot unlearn, or a forced training), and the policy's count of updates is not
    reached."""
    training = service.config.training
    return (
        training.incremental
        and served is not None
        and claimed["rewrites"] == 0
        and claimed["updates"] < training.full_refit_every
    )


def training_set(service: Service, project: str, after_seq: int = 0) -> tuple[list[list[Any]], list[Any], list[int]]:
    """The project's usable annotations written after `after_seq`: feature rows, answers and
    their seqs (write order)."""
    rows: list[list[Any]] = []
    answers: list[Any] = []
    seqs: list[int] = []
    read_row = RowReader(service.config.features)
    for data, answer, seq in service.store.annotations(project, after_seq):
        try:
            rows.append(read_row(data))
        except BadTaskError:
            continue
        answers.append(answer)
        seqs.append(seq)
    return rows, answers, seqs


def with_images(service: Service, project: str, rows: list[list[Any]], answers: list[Any],
                seqs: list[int]) -> tuple[list[list[Any]], list[Any], list[int], int]:
    """The training set with its images read (backend/images.py; most come from the disk cache),
    without the annotations whose image cannot be read (each logged), and how many those are.
    This training learns without them; the next one tries them again."""
    if service.images is None or not rows:
        return rows, answers, seqs, 0
    names = [f"annotation seq {seq}" for seq in seqs]
    unread = service.images.load(project, rows, [None] * len(rows), service.images.training_seconds, names)
    if unread:
        log.warning("project %s: %d of %d annotations left out of this training: their images cannot be read",
                    project, len(unread), len(rows))
    left_out = set(unread)
    kept = [i for i in range(len(rows)) if i not in left_out]
    return [rows[i] for i in kept], [answers[i] for i in kept], [seqs[i] for i in kept], len(unread)


def full_training(service: Service, project: str, served: Any) -> tuple[Any, dict[str, Any]]:
    target = service.target
    rows, answers, seqs, unread = with_images(service, project, *training_set(service, project))
    check_enough(service, answers, unread)
    metrics, out_of_sample, measured = evaluate(service.config, target, rows, answers)
    if service.images is not None:
        metrics["images_unread"] = unread
    gated = service.config.promotion.policy == "if_better"
    if served is not None and gated:
        served_until = service.store.version(served.version)["trained_until"]
        metrics["comparison"] = compare(target, served, served_until, seqs, rows, answers, out_of_sample)
    model = fit_model(service.config, target, rows, answers)
    if measured is not None:
        indexes, outputs = measured
        metrics.update(target.tune(model, [answers[i] for i in indexes], outputs))
    return model, {"kind": "full", "n_annotations": len(answers), "trained_until": max(seqs),
                   "classes": target.trained_labels(model), "metrics": metrics}


def incremental_update(service: Service, project: str, served: Any) -> tuple[Any, dict[str, Any]]:
    record = service.store.version(served.version)
    assert record is not None
    target = service.target
    rows, answers, seqs, unread = with_images(service, project,
                                              *training_set(service, project, after_seq=record["trained_until"]))
    if not answers:
        raise NotEnoughDataError("no new annotation since the served model" + _unread_note(unread))
    X = rows_to_matrix(rows)
    with sklearn.config_context(assume_finite=True):
        seen = target.outputs(served.model, X)  # test on the new annotations before learning them
    model = copy.deepcopy(served.model)
    target.partial_fit(model.steps[-1][1], model[:-1].transform(X), target.encode(answers))
    metric = target.prequential_metric
    metrics = {
        "n_train": record["n_annotations"] + len(answers),
        "n_new": len(answers),
        f"prequential_{metric}": target.scores(answers, seen)[metric],
        "evaluation": f"prequential: the served model's {metric} on the new annotations, before the update",
    }
    if service.images is not None:
        metrics["images_unread"] = unread
    return model, {"kind": "incremental", "n_annotations": record["n_annotations"] + len(answers),
                   "trained_until": max(seqs), "classes": target.trained_labels(model), "metrics": metrics}


def check_enough(service: Service, answers: list[Any], unread: int = 0) -> None:
    per_class = service.config.training.min_per_class
    reason = service.target.readiness(Counter(answer_key(a) for a in answers), per_class)
    if reason:
        raise NotEnoughDataError(reason + _unread_note(unread))


def _unread_note(unread: int) -> str:
    return f" ({unread} annotations left out: their images cannot be read, the log says why)" if unread else ""


def _summary(target: Target, metrics: dict[str, Any]) -> str:
    keys = (*target.metrics, f"prequential_{target.prequential_metric}")
    shown = ", ".join(f"{k} {metrics[k]}" for k in keys if k in metrics)
    return shown or metrics.get("evaluation", "not measured")


def release_memory() -> None:
    """Give the heap that a training freed back to the system (glibc keeps it otherwise), so
    a long-running service does not sit at its training peak."""
    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc: nothing to do
