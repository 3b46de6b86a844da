"""Request bodies, checked before any handler acts on them.

A body must be a JSON object in UTF-8, nested at most MAX_DEPTH levels, with only finite
numbers (no NaN or Infinity, which Python's json module accepts but JSON does not) and no
integer beyond 64 bits (what SQLite and Label Studio's database hold). Each field that a route
reads must have a type Label Studio sends, in each of its lenient forms: a project as 3,
"3", "3.1700000000" or {"id": 3}, and a webhook's task and annotation as an object or, for bulk
actions, a list of objects. Fields the service only passes on stay loose. A task's `data` may
hold any JSON, because the features refuse what they cannot read, task by task. An
annotation's `result` may too: the target counts a skip reason for a result it cannot read.

Every problem raises PayloadError, naming the field. The API answers it with a JSON 400.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import orjson

from .ingest import ID_MAX, ID_MIN, is_id, project_key

MAX_DEPTH = 64  # Label Studio's payloads nest 6 levels deep; task data rarely more than a few
MAX_VERSION_CHARS = 200
ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
PROJECT_FORMS = '3, "3", "3.1700000000" or {"id": 3}'


class PayloadError(ValueError):
    """A request body the service does not accept; the message says which field, and why."""


# the body --------------------------------------------------------------------------------


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object in a request body; raises PayloadError when it is not one.

    orjson reads it first (under half of json.loads's time on a 100-task body). It refuses what
    these rules refuse too (NaN, Infinity, a number beyond a double, a lone surrogate, bytes that
    are not UTF-8) but also what they may take (a byte order mark) or must name (nesting past its
    own limit), and it reads an integer beyond 64 bits as a double: any such body, and any that
    holds a double of an integer's size, is read again by json, whose answer and messages are the
    rules'."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _parse_strictly(raw)
    if type(body) is not dict:
        return _parse_strictly(raw)
    try:
        _check_values(body, read_by_orjson=True)
    except _MaybeLongInteger:
        return _parse_strictly(raw)
    return body


def _parse_strictly(raw: bytes) -> dict[str, Any]:
    """parse_body by json, with the rules' own messages."""
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the body is not UTF-8 text: {exc}") from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant) if text else None
    except RecursionError:  # nested a thousand levels or so: the parser's own limit
        raise PayloadError(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except PayloadError:
        raise
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's own limit: 4,300 digits
            raise PayloadError("the body holds an integer beyond 64 bits (thousands of digits)") from None
        raise PayloadError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise PayloadError(f"the body must be a JSON object, not {describe(body)}")
    _check_values(body)
    return body


def _refuse_constant(name: str) -> Any:
    raise PayloadError(f"the body holds {name}, which is not a JSON number")


class _MaybeLongInteger(Exception):
    """orjson read a double of an integer's size: it may have been an integer beyond 64 bits."""


def _check_values(body: dict[str, Any], read_by_orjson: bool = False) -> None:
    """Refuse objects and lists nested more than MAX_DEPTH levels (the body itself is level 1),
    integers beyond 64 bits and numbers beyond a double (which json.loads reads as infinity;
    orjson refuses them, and `read_by_orjson` raises _MaybeLongInteger for a double of 2**63 or
    more). One level of containers at a time, never recursion (a fifth faster than a stack of
    (container, depth) pairs: a 100-task body has 600 containers); json.loads itself runs no
    Python per number (hooks for that cost a third of a 100-task /predict's parsing)."""
    level, depth = [body], 1
    while level:
        if depth > MAX_DEPTH:
            raise PayloadError(f"the body nests deeper than {MAX_DEPTH} levels")
        below: list[Any] = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                kind = type(child)
                if kind is dict or kind is list:
                    below.append(child)
                elif kind is int and not ID_MIN <= child <= ID_MAX:
                    raise PayloadError(f"the body holds an integer beyond 64 bits: {_clip(str(child))}")
                elif kind is float and not -_LONG < child < _LONG:
                    if read_by_orjson:
                        raise _MaybeLongInteger
                    if child == _INFINITY or child == -_INFINITY:
                        raise PayloadError("the body holds a number too large for a double")
        level, depth = below, depth + 1


_INFINITY = math.inf
_LONG = float(2**63)  # a double this large may be an integer beyond 64 bits as orjson reads it


def _clip(literal: str) -> str:
    return literal if len(literal) <= 24 else f"{literal[:20]}... ({len(literal)} digits)"


def describe(value: Any) -> str:
    """A value's JSON type, for a message: 'a string', 'null'..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


# fields ----------------------------------------------------------------------------------


def project_field(value: Any, where: str, required: bool = False) -> str | None:
    """The project key of a field that names a project, None when it is absent (or null)."""
    if value is None and not required:
        return None
    key = project_key(value)
    if key is None:
        if value is None:
            raise PayloadError(f"'{where}' is missing: a project id ({PROJECT_FORMS})")
        raise PayloadError(f"'{where}' must be a project id ({PROJECT_FORMS}), not {_shown(value)}")
    return key


def id_field(value: Any, where: str, required: bool = True) -> int | None:
    """A Label Studio id (a 64-bit integer)."""
    if value is None and not required:
        return None
    if not is_id(value):
        raise PayloadError(f"'{where}' must be an integer id, not {_shown(value)}")
    return value


def flag_field(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise PayloadError(f"'{where}' must be true or false, not {_shown(value)}")


def text_field(value: Any, where: str, required: bool = False) -> str | None:
    """A string the service reads (a config, a version name), as valid Unicode."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"'{where}' must be a string, not {describe(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError(f"'{where}' holds a lone UTF-16 surrogate, which is not Unicode text") from None
    return value


def objects_field(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """A field that Label Studio sends as an object, or as a list of objects (bulk actions):
    (the path of each object, for messages; the object)."""
    if isinstance(value, dict):
        return [(where, value)]
    if not isinstance(value, list):
        if value is None:
            raise PayloadError(f"'{where}' is missing: an object or a list of objects")
        raise PayloadError(f"'{where}' must be an object or a list of objects, not {describe(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise PayloadError(f"'{where}[{i}]' must be an object, not {describe(item)}")
    return [(f"{where}[{i}]", item) for i, item in enumerate(value)]


def list_field(value: Any, where: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        if value is None:
            raise PayloadError(f"the body needs '{where}', {what}")
        raise PayloadError(f"'{where}' must be {what}, not {describe(value)}")
    return value


def _shown(value: Any) -> str:
    """A wrong value in a message: its type, and itself if short."""
    if isinstance(value, (dict, list)) or value is None:
        return describe(value)
    text = json.dumps(value, ensure_ascii=True)
    return f"{describe(value)} ({text if len(text) <= 40 else text[:37] + '...'})"


def _plain_id(value: Any) -> bool:
    """An integer id, or none: what task_fields takes at once, without building its messages."""
    return value is None or is_id(value)


def task_fields(task: dict[str, Any], where: str) -> None:
    """A task: an integer id and a project if it has them; `data` may hold anything."""
    id_field(task.get("id"), f"{where}.id", required=False)
    project_field(task.get("project"), f"{where}.project")


def annotation_fields(annotation: dict[str, Any], where: str) -> None:
    """An annotation: an integer id, its task's id and its project if it has them; `result`
    is the target's to read."""
    id_field(annotation.get("id"), f"{where}.id")
    id_field(annotation.get("task"), f"{where}.task", required=False)
    project_field(annotation.get("project"), f"{where}.project")
    flag_field(annotation.get("was_cancelled"), f"{where}.was_cancelled")


# routes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupRequest:
    project: str | None  # if named
    schema: str | None  # the labeling config, if sent
    hostname: str | None  # Label Studio's address, as it sees itself (an http(s) URL)
    access_token: str | None  # the project owner's legacy API token


def check_setup(body: dict[str, Any]) -> SetupRequest:
    """/setup: what Label Studio says of the project and of itself."""
    project = project_field(body.get("project"), "project")
    schema = text_field(body.get("schema"), "schema")
    extra = body.get("extra_params")
    if extra is not None and not isinstance(extra, (str, dict)):
        raise PayloadError(f"'extra_params' must be an object, a string or null, not {describe(extra)}")
    hostname = text_field(body.get("hostname"), "hostname")
    if hostname is not None and not hostname.startswith(("http://", "https://")):
        hostname = None  # not an address this backend could call: as if it were not sent
    token = text_field(body.get("access_token"), "access_token")
    return SetupRequest(project, schema, hostname or None, token or None)


def check_predict(body: dict[str, Any]) -> tuple[str | None, list[Any]]:
    """/predict: (the project, from the body or else its first task; the tasks). An item of
    `tasks` that is not an object gets an empty prediction, as does a task whose data the
    features cannot read. A task that is an object must have a well-formed id and project."""
    tasks = list_field(body.get("tasks"), "tasks", "a list of Label Studio tasks")
    project = project_field(body.get("project"), "project")
    first = None
    for i, task in enumerate(tasks):
        if isinstance(task, dict):
            if not (_plain_id(task.get("id")) and _plain_id(task.get("project"))):  # Label Studio's are plain
                task_fields(task, f"tasks[{i}]")
            first = task if first is None else first
    if project is None and first is not None:
        project = project_key(first.get("project"))
    return project, tasks


def check_train(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """/train (legacy): (the project, if named; annotated tasks in Label Studio's export format)."""
    project = project_field(body.get("project"), "project")
    tasks = list_field(body.get("annotations"), "annotations", "a list of annotated tasks")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise PayloadError(f"'annotations[{i}]' must be a task object, not {describe(task)}")
        task_fields(task, f"annotations[{i}]")
        annotations = task.get("annotations")
        if annotations is None:
            continue
        if not isinstance(annotations, list):
            raise PayloadError(f"'annotations[{i}].annotations' must be a list, not {describe(annotations)}")
        for j, annotation in enumerate(annotations):
            where = f"annotations[{i}].annotations[{j}]"
            if not isinstance(annotation, dict):
                raise PayloadError(f"'{where}' must be an object, not {describe(annotation)}")
            annotation_fields(annotation, where)
    return project, tasks


def check_activate(body: dict[str, Any]) -> tuple[str, str]:
    """/versions/activate: (the project, the version to serve)."""
    project = project_field(body.get("project"), "project", required=True)
    version = text_field(body.get("version"), "version", required=True)
    if not version or len(version) > MAX_VERSION_CHARS:
        raise PayloadError(f"'version' must be a version name of 1 to {MAX_VERSION_CHARS} characters")
    return project, version


def check_webhook(payload: dict[str, Any]) -> str:
    """A webhook, by its action; returns the action. Actions the service ignores are not
    checked further: nothing reads them."""
    action = payload.get("action")
    if not isinstance(action, str):
        if action is None:
            raise PayloadError("'action' is missing")
        raise PayloadError(f"'action' must be a string, not {describe(action)}")
    if action == "START_TRAINING":
        project_field(payload.get("project"), "project", required=True)
    elif action in ANNOTATION_ACTIONS:
        project_field(payload.get("project"), "project")
        for where, task in objects_field(payload.get("task"), "task"):
            task_fields(task, where)
        for where, annotation in objects_field(payload.get("annotation"), "annotation"):
            annotation_fields(annotation, where)
    elif action == "ANNOTATIONS_DELETED":
        for where, annotation in objects_field(payload.get("annotations"), "annotations"):
            id_field(annotation.get("id"), f"{where}.id")
    return action
