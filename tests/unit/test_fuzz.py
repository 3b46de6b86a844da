"""Property tests: whatever a spec file holds, validation returns problems, never raises."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlgen import validate_spec
from mlgen.problems import Problem

SPECS = Path(__file__).resolve().parent.parent / "specs"
VALID = [yaml.safe_load(p.read_text()) for p in sorted((SPECS / "valid").glob("*.yaml"))]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)
# Derandomized: CI sees the same examples every run; raise max_examples locally to search further.
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def check(text: str | bytes) -> list[Problem]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backend.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        problems = validate_spec(path)
    assert all(isinstance(p, Problem) and p.line >= 1 and p.column >= 1 for p in problems)
    return problems


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("abc:- \n\t[]{}'\"#&*!|>%@`,?0123456789\\")), max_size=200))
def test_yaml_like_text(text):
    check(text)


@FUZZ
@given(st.data())
def test_mutated_valid_specs(data):
    spec = copy.deepcopy(data.draw(st.sampled_from(VALID)))
    for _ in range(data.draw(st.integers(1, 3))):
        node = spec
        path = []
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
            path.append(key)
            if not isinstance(node[key], (dict, list)):
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(list(node)))
            action = data.draw(st.sampled_from(["delete", "replace", "add"]))
            if action == "delete":
                del node[key]
            elif action == "replace":
                node[key] = data.draw(VALUES)
            else:
                node[data.draw(st.text(max_size=12))] = data.draw(VALUES)
        elif isinstance(node, list) and node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(VALUES)
    check(json.dumps(spec, allow_nan=True) if data.draw(st.booleans()) else yaml.safe_dump(spec))
