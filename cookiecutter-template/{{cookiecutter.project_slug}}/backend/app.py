"""The HTTP API: what Label Studio calls (/health, /setup, /predict, /webhook, /train, /versions)
and what people use (/metrics, /status, /versions/activate).

Every answer is JSON, errors included. Label Studio shows only the status line of a failed
call, so errors carry their cause in the reason phrase too. A body is checked (payloads.py)
before a handler acts on it: a malformed one gets a 400 naming the problem, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import bottle
import orjson

from .events import handle_webhook
from .ingest import store_tasks
from .labelconfig import LabelConfigError, compatibility_problems, parse_label_config
from .payloads import PayloadError, check_activate, check_predict, check_setup, check_train, parse_body
from .predictor import predict_tasks
from .queue import enqueue_follow, request_training
from .registry import ModelLoadError, untrained_version
from .service import Service
from .status import status_page
from .sync import first_contact_due, remember_setup, start_first_contact

log = logging.getLogger(__name__)
DEFAULT_PROJECT = "default"
LOG_DETAIL = "backend.log_detail"  # a handler's note for the request's log line


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def create_app(service: Service) -> bottle.Bottle:
    app = bottle.Bottle(catchall=True)
    app.uninstall("json")  # Bottle's own, with json.dumps
    app.install(bottle.JSONPlugin(json_dumps=dumps))
    bottle.BaseRequest.MEMFILE_MAX = service.settings.max_body_bytes  # process-wide in Bottle
    setup_cache: dict[str, list[str]] = {}

    def route(method: str, path: str, auth: bool = True) -> Callable[[Callable[[], Any]], Any]:
        # Label Studio polls these constantly (/predict for every task an annotator opens): their
        # answers are logged at DEBUG, and at INFO only when they fail (a log line per request
        # was a tenth of a /predict's time)
        quiet = path in ("/", "/health", "/setup", "/predict")

        def decorate(handler: Callable[[], Any]) -> Any:
            def wrapped() -> Any:
                started = time.perf_counter()
                try:
                    if auth:
                        require_basic_auth(service)
                    answer = handler()
                except ApiError as exc:
                    answer = error_response(exc.status, exc.message, **exc.extra)
                except PayloadError as exc:
                    answer = error_response(400, str(exc))
                except bottle.HTTPError as exc:
                    answer = error_response(exc.status_code, str(exc.body or exc.status_line))
                except ModelLoadError as exc:
                    log.error("%s", exc)
                    answer = error_response(500, str(exc))
                except service.unavailable as exc:  # PostgreSQL or Redis (distributed mode) is down
                    log.error("%s %s: %s: %s", method, path, type(exc).__name__, exc)
                    bottle.response.set_header("Retry-After", "5")
                    answer = error_response(503, "the state database or the queue cannot be reached; try again")
                except Exception:
                    log.exception("%s %s failed", method, path)
                    answer = error_response(500, "internal error; see the service log")
                status = bottle.response.status_code
                level = logging.DEBUG if quiet and status < 400 else logging.INFO
                if log.isEnabledFor(level):
                    log.log(level, "%s %s %d %.1f ms%s", method, path, status, (time.perf_counter() - started) * 1000,
                            bottle.request.environ.get(LOG_DETAIL, ""))
                return answer

            app.route(path, method, wrapped)
            return handler

        return decorate

    @route("GET", "/")
    @route("GET", "/health")
    def health() -> dict[str, Any]:
        return {
            "status": "UP",
            "name": service.spec["name"],
            "model_class": service.spec["model"]["class"].rsplit(".", 1)[-1],
        }

    @route("POST", "/setup")
    def setup() -> dict[str, Any]:
        request = check_setup(json_body())
        project, schema = request.project or DEFAULT_PROJECT, request.schema
        if schema is not None and schema.strip():
            if schema not in setup_cache:
                if len(setup_cache) > 256:
                    setup_cache.clear()
                setup_cache[schema] = config_problems(service, schema)
            if setup_cache[schema]:
                raise ApiError(422, "labeling config does not fit this backend: "
                               + "; ".join(setup_cache[schema]), problems=setup_cache[schema])
        if request.project is not None and service.images is not None:
            remember_setup(service, project, request.hostname, request.access_token)
        if request.project is not None and first_contact_due(service, project):
            start_first_contact(service, project, request.hostname, request.access_token)
        return {"model_version": service.registry.served_version(project)}

    @route("POST", "/predict")
    def predict() -> dict[str, Any]:
        project, tasks = check_predict(json_body())
        return {"results": predict_tasks(service, project or DEFAULT_PROJECT, tasks)}

    @route("POST", "/webhook", auth=False)
    def webhook() -> Any:
        require_webhook_auth(service)
        body = json_body()
        action = body.get("action")
        bottle.request.environ[LOG_DETAIL] = f" {_reason(action)[:60]}" if isinstance(action, str) else ""
        try:
            status, answer = handle_webhook(service, body)
        except PayloadError as exc:
            raise ApiError(400, f"bad webhook payload: {exc}") from None
        bottle.response.status = status
        return answer

    @route("POST", "/train")
    def train() -> Any:
        """Legacy: Label Studio with the webhook flag off sends every annotated task here."""
        project, tasks = check_train(json_body())
        project = project or DEFAULT_PROJECT
        store_tasks(service, project, tasks)
        job = request_training(service, project, "train", force=True)
        bottle.response.status = 201
        return {"status": "ok", "job": job}

    @route("GET", "/versions")
    def versions() -> dict[str, Any]:
        """Label Studio reads `versions` (names); `current` and `details` are for people."""
        untrained = untrained_version(service.spec["name"])
        details = [_public(v) for v in service.store.versions()]
        return {
            "versions": [untrained] + [v["version"] for v in details],
            "current": {row["project"]: row["version"] or untrained for row in service.store.projects()},
            "details": details,
        }

    @route("POST", "/versions/activate")
    def activate() -> dict[str, Any]:
        """Serve a kept version: roll back, or accept a model the promotion gate rejected."""
        project, version = check_activate(json_body())
        try:
            service.registry.activate(project, version)
        except LookupError as exc:
            raise ApiError(404, str(exc)) from None
        except ModelLoadError as exc:
            raise ApiError(409, str(exc)) from None
        enqueue_follow(service, project)  # Label Studio's prediction source follows, when it can
        return {"project": project, "model_version": service.registry.served_version(project)}

    @route("GET", "/metrics")
    def metrics() -> dict[str, Any]:
        return {
            "process": os.getpid(),  # which serving process answered (server.processes); its own cache
            "annotations": service.store.count_annotations(),
            "queue": {"pending": service.huey.pending_count(), "scheduled": service.huey.scheduled_count()},
            "prediction_cache": service.predictions.stats() if service.predictions else None,
            "projects": [project_metrics(service, row) for row in service.store.projects()],
        }

    @route("GET", "/status")
    def status() -> str:
        """For people: learning curves, versions and queue, as an HTML page."""
        bottle.response.content_type = "text/html; charset=utf-8"
        return status_page(service)

    def not_found(error: bottle.HTTPError) -> str:
        return error_body(error.status_code, error.status_line.split(" ", 1)[-1])

    app.default_error_handler = not_found  # 404, 405, and anything Bottle itself rejects
    return app


def project_metrics(service: Service, row: dict[str, Any]) -> dict[str, Any]:
    served = service.store.version(row["version"]) if row["version"] else None
    return {
        "project": row["project"],
        "annotations": service.store.count_annotations(row["project"]),
        "model_version": row["version"] or service.registry.served_version(row["project"]),
        "model_metrics": served["metrics"] if served else None,
        "changes_since_training": row["changes"],
        "annotations_skipped": service.store.skipped(row["project"]),
        "answers_lacking": service.target.gaps(service.store.answer_counts(row["project"])),
        "label_studio": label_studio_link(service, row["project"]),
        "training_queued": bool(row["pending"]),
        "training_running": bool(row["running"]),
        "last_run": next(iter(service.store.runs(row["project"], limit=1)), None),
    }


def label_studio_link(service: Service, project: str) -> dict[str, Any] | None:
    """For /metrics: how importing the project's existing annotations went (without the
    token), and which version Label Studio's prediction source was last pointed at."""
    contact = service.store.contact(project)
    if contact is None:
        return None
    shown = {key: contact[key] for key in ("status", "url", "stored", "problem") if key in contact}
    return {**shown, "prediction_source": service.store.prediction_source(project)}


def _public(version: dict[str, Any]) -> dict[str, Any]:
    keys = ("version", "project", "status", "kind", "created_at", "trigger", "reason", "n_annotations",
            "duration_s", "metrics", "libraries")
    return {**{k: version[k] for k in keys}, "kept": version["path"] is not None}


def config_problems(service: Service, schema: str) -> list[str]:
    try:
        config = parse_label_config(schema)
    except LabelConfigError as exc:
        return [str(exc)]
    fields = [f["field"] for f in service.spec["features"]]
    return compatibility_problems(config, service.target.control, fields)


def json_body() -> dict[str, Any]:
    """The request's JSON object (payloads.parse_body: depth, numbers and encoding checked)."""
    request = bottle.request
    limit = bottle.BaseRequest.MEMFILE_MAX
    if request.content_length > limit:
        raise ApiError(413, f"request body over {limit} bytes; raise server.max_body_mb")
    return parse_body(request.body.read())


def require_basic_auth(service: Service) -> None:
    if service.settings.basic_auth is not None and not _basic_auth_ok(service.settings.basic_auth):
        raise ApiError(401, "authentication required")


def require_webhook_auth(service: Service) -> None:
    """Label Studio's automatic webhook carries no credentials. With WEBHOOK_SECRET set, a
    webhook needs the X-Webhook-Secret header (added to the project webhook in Label Studio)
    or basic auth (START_TRAINING carries it); without it, /webhook is open."""
    secret = service.settings.webhook_secret
    if secret is None:
        return
    given = bottle.request.get_header("X-Webhook-Secret", "")
    if hmac.compare_digest(given.encode(), secret.encode()):
        return
    if service.settings.basic_auth is not None and _basic_auth_ok(service.settings.basic_auth):
        return
    raise ApiError(401, "webhook secret or credentials required")


def _basic_auth_ok(expected: tuple[str, str]) -> bool:
    header = bottle.request.get_header("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user_ok = hmac.compare_digest(user.encode(), expected[0].encode())
    password_ok = hmac.compare_digest(password.encode(), expected[1].encode())
    return user_ok and password_ok


def dumps(answer: Any) -> bytes:
    """An answer as JSON: orjson's (a tenth of json.dumps's time for a 100-task /predict), or
    json's for what orjson refuses (a lone surrogate quoted from a request, a key not a string)."""
    try:
        return orjson.dumps(answer)
    except TypeError:
        return json.dumps(answer).encode()


def error_response(status: int, message: str, **extra: Any) -> str:
    bottle.response.status = f"{status} {_reason(message)}"
    if status == 401:
        bottle.response.set_header("WWW-Authenticate", 'Basic realm="ml-backend"')
    bottle.response.content_type = "application/json"
    return json.dumps({"status": status, "error": message, **extra})


def error_body(status: int, message: str) -> str:
    bottle.response.content_type = "application/json"
    return json.dumps({"status": status, "error": message})


def _reason(message: str) -> str:
    """A reason phrase: one line of printable ASCII, short enough for any client."""
    text = "".join(c if 32 <= ord(c) < 127 else " " for c in message).strip()
    return text[:200] or "Error"


class StripTrailingSlash:
    """Serve /predict/ as /predict: Label Studio URLs may end in a slash, and a redirect would
    turn its POSTs into GETs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        return self.app(environ, start_response)
