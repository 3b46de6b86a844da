"""Property tests: whatever a spec file holds, validation returns problems, never raises.

A semantic check never catches its own exceptions (checks.py: it declares what it reads and
is skipped where the schema rejected that), so any crash inside a check, on any spec, fails
these tests; tests/unit/test_spec_properties.py holds the properties of the problems found.

The examples are derandomized, so CI sees the same ones every run. To search further by hand,
multiply every property test's max_examples (here and in test_spec_properties.py):

    MLGEN_FUZZ_SCALE=50 .venv/bin/python -m pytest -q tests/unit/test_fuzz.py tests/unit/test_spec_properties.py

Each test's docstring lists the mutants it killed, one a line: a small breakage applied to the
code by hand, seen to fail the test, and reverted.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mlgen import validate_spec
from mlgen.problems import Problem

SPECS = Path(__file__).resolve().parent.parent / "specs"
VALID = [yaml.safe_load(p.read_text()) for p in sorted((SPECS / "valid").glob("*.yaml"))]


def loadable(path: Path) -> Any:
    """A spec file's data as PyYAML reads it; None when it cannot (test_spec_properties' bases)."""
    try:
        return yaml.safe_load(path.read_bytes())
    except (yaml.YAMLError, ValueError, RecursionError):  # some are not YAML, or nest too deeply
        return None


SCALE = int(os.environ.get("MLGEN_FUZZ_SCALE", "1"))  # raise it to search longer, by hand
# YAML reads a key as any scalar: `1:`, `true:`, `null:` are no strings; JSON makes them strings.
KEYS = st.one_of(st.text(max_size=10), st.integers(-5, 5), st.booleans(), st.none())
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))


def values(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Scalars, and lists and mappings of them, a few levels deep."""
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(keys, inner, max_size=4)),
                        max_leaves=12)


VALUES = values(SCALARS, KEYS)
# Strings made of pieces that mean something to a spec's readers: paths, XML, YAML, templates.
PIECES = ["\0", "<", "<View>", "/", "..", ".", ":", "$", "\n", "\t", " ", "yes", "1e3", "{{", "é", "a", "_"]
STRINGS = st.one_of(st.text(max_size=30), st.lists(st.sampled_from(PIECES), max_size=8).map("".join))


def fuzz_settings(examples: int) -> settings:
    """Derandomized: CI sees the same examples every run; MLGEN_FUZZ_SCALE searches further."""
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


FUZZ = fuzz_settings(300)


def check(text: str | bytes) -> list[Problem]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backend.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        problems = validate_spec(path)
    assert all(isinstance(p, Problem) and p.line >= 1 and p.column >= 1 for p in problems)
    return problems


def containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """(path, node) of every mapping and list in a spec, itself first."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return []
    return [(path, node)] + [found for key, child in items for found in containers(child, (*path, key))]


@st.composite
def mutated_specs(draw: st.DrawFn, new_values: st.SearchStrategy[Any] = VALUES,
                  new_keys: st.SearchStrategy[Any] = KEYS, bases: list[Any] = VALID,
                  changes: tuple[int, int] = (1, 3)) -> dict[str, Any]:
    """A spec of `bases` with random changes (between `changes`), each in a mapping or list
    drawn from all of them: a key deleted, a value replaced, keys added, or a list item replaced."""
    spec = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(*changes))):
        _, node = draw(st.sampled_from(containers(spec)))
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(list(node)))
            action = draw(st.sampled_from(["delete", "replace", "add"]))
            if action == "delete":
                del node[key]
            elif action == "replace":
                node[key] = draw(new_values)
            else:  # new keys anywhere among the others: the first key shares its mapping's position
                items = list(node.items())
                at = draw(st.integers(0, len(items)))
                added = draw(st.dictionaries(new_keys, new_values, min_size=1, max_size=3))
                node.clear()
                node.update([*items[:at], *added.items(), *items[at:]])
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(new_values)
    return spec


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("abc:- \n\t[]{}'\"#&*!|>%@`,?0123456789\\")), max_size=200))
def test_yaml_like_text(text):
    check(text)


def string_paths(spec: Any) -> list[tuple[Any, ...]]:
    """The path of every string value in a spec."""
    return [(*path, key) for path, node in containers(spec)
            for key, value in (node.items() if isinstance(node, dict) else enumerate(node)) if isinstance(value, str)]


def string_cases() -> dict[str, tuple[dict[str, Any], tuple[Any, ...]]]:
    """A valid spec and the path of one of its strings, for every such path (list items as one)."""
    cases = {}
    for spec in VALID:
        for path in string_paths(spec):
            cases.setdefault(".".join("*" if isinstance(step, int) else str(step) for step in path), (spec, path))
    return cases


STRING_CASES = string_cases()


@pytest.mark.parametrize("where", sorted(STRING_CASES))
@fuzz_settings(20)
@given(text=STRINGS, as_json=st.booleans())
@example(text="a\0b", as_json=False)  # found by this test: a NUL in the labeling config's path
def test_replaced_strings(where, text, as_json):
    """Each string of a valid spec replaced by any other: a name, a path, the XML, a cron line.

    Fails if checks.labeling_config catches no ValueError (a NUL in a config path: Path.read_text).
    """
    spec, (*parents, last) = copy.deepcopy(STRING_CASES[where])
    node = spec
    for step in parents:
        node = node[step]
    node[last] = text
    check(json.dumps(spec) if as_json else yaml.safe_dump(spec, sort_keys=False))


def with_keys(spec: dict[str, Any], path: tuple[str, ...], keys: dict[Any, Any]) -> dict[str, Any]:
    """A copy of `spec` whose mapping at `path` has `keys` too."""
    spec = copy.deepcopy(spec)
    node = spec
    for step in path:
        node = node.setdefault(step, {})
    node.update(keys)
    return spec


@FUZZ
@given(mutated_specs(), st.booleans())
# Found by this test: keys of several types in one mapping, which sorting them cannot compare.
@example(with_keys(VALID[0], ("model", "params"), {1: 2}), False)
@example(with_keys(VALID[0], (), {None: 1, "x": 2}), False)
def test_mutated_valid_specs(spec, as_json):
    """Every check runs on what the schema accepts of a mutated spec, and none crashes.

    Fails if feature_fields reads a feature's field unasked (ctx.features("field") -> ctx.features()).
    Fails if Context.valid answers True for everything (checks read what the schema rejected).
    Fails if checks.valid_params keeps non-string param names (an int beside a str: estimators._key).
    Fails if validate._unknown_keys sorts unknown keys without key=str (None beside a str key).
    """
    check(json.dumps(spec, allow_nan=True, default=str) if as_json else yaml.safe_dump(spec, sort_keys=False))
