"""Check a loaded spec: JSON Schema first, then the semantic checks. Returns Problems only."""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from . import __version__
from .checks import run_checks
from .loader import JsonPath, LoadedSpec, load_spec_file
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
    with schema errors, each on the parts the schema accepts, so one run reports everything.
    No problem is dropped for sharing a line and column with another: a check says nothing
    about what the schema rejected, and which nodes share a place depends on the layout (in
    YAML a mapping starts where its first key does, in JSON it does not)."""
    errors = schema_errors(loaded)
    problems = schema_problems(loaded, errors)
    if problems and loaded.data.get("version") != SPEC_VERSION:
        return problems  # a spec of another format version: its other keys may mean other things
    return sorted(problems + run_checks(loaded, invalid_paths(errors)))


def schema_errors(loaded: LoadedSpec) -> list[ValidationError]:
    """Every specific schema error of the spec (the leaves behind if/then and allOf)."""
    return [leaf for error in _validator().iter_errors(loaded.data) for leaf in _leaves(error)]


def schema_problems(loaded: LoadedSpec, errors: list[ValidationError] | None = None) -> list[Problem]:
    """The schema errors as Problems: one for each unknown key, though the schema gives one
    error for all the unknown keys of a mapping."""
    errors = schema_errors(loaded) if errors is None else errors
    problems = [_to_problem(loaded, error, key) for error in errors for key in _unknown_keys(error)]
    return sorted({p for p in problems if p is not None})


def _unknown_keys(error: ValidationError) -> list[Any]:
    """The keys an additionalProperties error is about; [None] for any other error."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return sorted(_keys_concerned(error), key=str)  # YAML keys may be of any type
    return [None]


# Errors about a mapping's keys rather than its contents: they lie at the key concerned.
KEY_VALIDATORS = ("required", "additionalProperties")


def invalid_paths(errors: list[ValidationError]) -> frozenset[JsonPath]:
    """Where the schema errors lie, for the checks to avoid (checks.Context.valid): at the value
    an error is about, except that a missing key lies at that key, an unknown one at itself,
    and a key a feature's type does not take (propertyNames) at itself, so that the mapping's
    other keys stay readable."""
    paths: set[JsonPath] = set()
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator in KEY_VALIDATORS and isinstance(error.instance, dict):
            paths.update((*path, key) for key in _keys_concerned(error))
        elif "propertyNames" in error.absolute_schema_path:
            paths.add((*path, error.instance))
        else:
            paths.add(path)
    return frozenset(paths)


def _keys_concerned(error: ValidationError) -> list[Any]:
    """The keys a required error finds missing, or an additionalProperties error unknown."""
    if error.validator == "required":
        return [key for key in error.validator_value if key not in error.instance]
    return [key for key in error.instance if key not in error.schema.get("properties", {})]


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The specific errors behind an if/then or allOf failure, rather than the wrapper."""
    if error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _to_problem(loaded: LoadedSpec, error: ValidationError, key: Any = None) -> Problem | None:
    """The error as a positioned Problem (about `key`, for an unknown key); None when another
    error already says it."""
    path = tuple(error.absolute_path)
    where = _dotted(path) or "the spec"
    hint = None
    at_key = False
    code = f"schema-{error.validator}".lower()
    if error.validator == "additionalProperties":
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
        if kind not in _feature_types():
            return None  # no type, or an unknown one, meets every type's rule: the type's problem says it
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


def _feature_types() -> list[Any]:
    """The feature types that the schema's rules (allOf: if type is ..., then ...) name."""
    return [rule["if"]["properties"]["type"]["const"] for rule in load_schema()["definitions"]["feature"]["allOf"]]


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
