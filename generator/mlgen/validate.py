"""Check a loaded spec: JSON Schema first, then the semantic checks. Returns Problems only."""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from . import __version__
from .checks import run_checks
from .loader import LoadedSpec, load_spec_file
from .problems import Problem
from .resources import load_schema

SPEC_VERSION = 1


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = load_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def validate_file(path: str) -> tuple[LoadedSpec | None, list[Problem]]:
    """Load and check one spec file; problems sorted by position."""
    loaded, problems = load_spec_file(path)
    if loaded is not None:
        checked = validate_loaded(loaded)
        errors_at = {(p.line, p.column) for p in checked if p.is_error}
        problems = [p for p in problems if (p.line, p.column) not in errors_at] + checked
    return loaded, sorted(problems)


def validate_loaded(loaded: LoadedSpec) -> list[Problem]:
    """Schema problems and semantic problems together: the semantic checks also run on a spec
    with schema errors, skipping what they cannot read, so one run reports everything."""
    problems = schema_problems(loaded)
    if problems and loaded.data.get("version") != SPEC_VERSION:
        return problems  # a spec of another format version: its other keys may mean other things
    taken = {(p.line, p.column) for p in problems}  # one problem a place: the schema's comes first
    checked = [p for p in run_checks(loaded, partial=bool(problems)) if (p.line, p.column) not in taken]
    return sorted(problems + checked)


def schema_problems(loaded: LoadedSpec) -> list[Problem]:
    problems = []
    for error in _validator().iter_errors(loaded.data):
        for leaf in _leaves(error):
            problem = _to_problem(loaded, leaf)
            if problem is not None:
                problems.append(problem)
    return sorted(set(problems))


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The specific errors behind an if/then or allOf failure, rather than the wrapper."""
    if error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _to_problem(loaded: LoadedSpec, error: ValidationError) -> Problem | None:
    """The error as a positioned Problem; None when another error already says it."""
    path = tuple(error.absolute_path)
    where = _dotted(path) or "the spec"
    hint = None
    at_key = False
    code = f"schema-{error.validator}".lower()
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        key = extra[0] if extra else None
        known = sorted(error.schema.get("properties", {}))
        message = f"unknown key '{key}' in {where}"
        hint = _did_you_mean(str(key), known, f"known keys: {', '.join(known)}")
        path, at_key = (*path, key), True
    elif "propertyNames" in error.absolute_schema_path:
        # A feature option that its type does not take: the error is about the key's name.
        if error.instance not in load_schema()["definitions"]["feature"]["properties"]:
            return None  # an unknown key: additionalProperties reports it, with a did-you-mean
        feature = loaded.data
        for step in path:
            feature = feature[step]
        kind = feature.get("type") if isinstance(feature, dict) else None
        message = f"'{error.instance}' does not apply to a {kind} feature"
        hint = f"a {kind} feature takes: {', '.join(map(str, error.validator_value))}"
        path, at_key = (*path, error.instance), True
        code = "schema-propertynames"
    elif error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        given = [str(k) for k in error.instance] if isinstance(error.instance, dict) else []
        if difflib.get_close_matches(missing, given, n=1, cutoff=0.8):
            return None  # a misspelt key: its unknown-key problem says "did you mean"
        message = f"{where} is missing the required key '{missing}'"
        at_key = True
    elif error.validator == "enum":
        options = [str(o) for o in error.validator_value]
        message = f"{where} must be one of {', '.join(options)}; got {error.instance!r}"
        hint = _did_you_mean(str(error.instance), options)
    elif error.validator == "const":
        message = f"{where} must be {error.validator_value!r}; got {error.instance!r}"
        if path == ("version",) and isinstance(error.instance, int) and error.instance > error.validator_value:
            message = f"this spec is version {error.instance}; mlgen {__version__} reads version {error.validator_value}"
            hint = f"this spec needs a newer mlgen than {__version__}: pip install --upgrade mlgen"
    elif error.validator == "type":
        message = f"{where} must be a {_types(error.validator_value)}; got {_describe(error.instance)}"
        wants_bool = "boolean" in (error.validator_value if isinstance(error.validator_value, list) else [error.validator_value])
        if wants_bool and isinstance(error.instance, str) and error.instance.lower() in {"yes", "no", "on", "off", "y", "n"}:
            hint = "write true or false: YAML 1.2 reads yes/no/on/off as strings"
    elif error.validator == "pattern":
        message = f"{where} has an invalid form: {error.instance!r}"
        hint = f"it must match {error.validator_value}"
    else:
        message = f"{where}: {error.message}"
    line, column = loaded.position(path, at_key=at_key)
    return Problem(str(loaded.path), line, column, "error", code, message, hint)


def _did_you_mean(word: str, options: list[str], fallback: str | None = None) -> str | None:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else fallback


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


TYPE_NAMES = {"object": "mapping", "array": "list", "integer": "whole number"}


def _types(value: Any) -> str:
    names = value if isinstance(value, list) else [value]
    return " or ".join(TYPE_NAMES.get(n, n) for n in names)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    return "list" if isinstance(value, list) else "mapping"
