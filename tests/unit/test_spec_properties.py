"""Properties of the problems a spec gets, over generated specs (derandomized; see
tests/unit/test_fuzz.py for MLGEN_FUZZ_SCALE, which searches further by hand):

- a crash inside a semantic check is an internal error (exit 3), never a shorter problem list;
- breaking one more part of a spec hides none of the problems it had;
- deleting a required key is reported at the mapping that lost it;
- the JSON and the YAML form of a spec get the same problems, at the same nodes;
- a spec without errors loads, builds its service, renders, and its project imports.

Each test's docstring lists the mutants it killed, one a line ("Fails if ..."): a small breakage
applied to the code by hand (to modules of others, by monkeypatching), seen to fail the test,
and reverted.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from mlgen import load_spec, render_backend
from mlgen.loader import _Loader
from mlgen.problems import Problem, has_errors
from mlgen.resources import load_schema
from mlgen.validate import validate_file
from test_fuzz import VALID, VALUES, containers, fuzz_settings, loadable, mutated_specs, values

SCHEMA = load_schema()
SPECS = Path(__file__).resolve().parent.parent / "specs"
# The specs of tests/specs/{valid,invalid} that are mappings, by name: bases to change.
BASES = {f"{path.parent.name}/{path.stem}": spec for path in sorted(SPECS.glob("[iv]*/*.yaml"))
         if isinstance(spec := loadable(path), dict)}


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """A schema node, its $ref followed."""
    return SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node


def validate(text: str, folder: Path) -> tuple[Any, list[Problem]]:
    """The loaded spec and its problems, for `text` written as folder/backend.yaml."""
    path = folder / "backend.yaml"
    path.write_text(text, encoding="utf-8")
    return validate_file(str(path))


class Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting every string that YAML 1.2 (mlgen's loader) would read as
    another type, such as 1e3, as well as those YAML 1.1 would (yes, on): its output means to
    mlgen what the data means."""


for _first, _resolvers in _Loader.yaml_implicit_resolvers.items():
    for _tag, _regexp in _resolvers:
        Dumper.add_implicit_resolver(_tag, _regexp, [_first])


def as_yaml(spec: Any) -> str:
    return yaml.dump(spec, Dumper=Dumper, sort_keys=False)  # allow_unicode would write NEL raw: a line break


def test_a_crash_in_a_check_is_an_internal_error(monkeypatch, capsys):
    """A check that raises, on a spec with schema errors too, ends `mlgen validate` with exit
    status 3 and a request to report the bug, not with the problems the other checks found.

    Fails if run_checks catches a check's KeyError when the spec has schema errors (the old except).
    """
    import mlgen.checks
    import mlgen.cli

    def crash(ctx: Any) -> None:
        raise KeyError("features")

    monkeypatch.setattr(mlgen.checks, "CHECKS", [*mlgen.checks.CHECKS, mlgen.checks.Check(crash, ())])
    spec = SPECS / "invalid" / "unknown-key-feature.yaml"  # a schema error, and checks to run
    monkeypatch.setattr(sys, "argv", ["mlgen", "validate", str(spec)])
    with pytest.raises(SystemExit) as exit_status:
        mlgen.cli.run()
    err = capsys.readouterr().err
    assert exit_status.value.code == 3 and "KeyError: 'features'" in err and "please report" in err


# A new key name close to no key of the schema (a key close to a missing one would rightly take
# its place: "unknown key 'modl'; did you mean 'model'?"), sorted before the schema's keys.
NEW_KEYS = st.integers(0, 99).map(lambda n: f"_x{n}")


def schema_at(path: tuple[Any, ...]) -> dict[str, Any] | None:
    """The schema of the node at `path`, or None where the schema describes none."""
    node: dict[str, Any] | None = SCHEMA
    for step in path:
        node = resolve(node)
        node = node.get("items") if isinstance(step, int) else node.get("properties", {}).get(step)
        if node is None:
            return None
    return resolve(node)


@st.composite
def broken_further(draw: st.DrawFn, spec: dict[str, Any], breakage: str) -> dict[str, Any]:
    """`spec` with one more part broken: an unknown key added to one of its mappings that the
    schema describes by their keys (so not model.params, whose keys are parameters that change
    what the estimator can be asked), or a random entry appended to its features."""
    spec = copy.deepcopy(spec)
    if breakage == "bad feature":
        assume(has_features(spec))  # appended to an empty list, an entry would mend minItems
        spec["features"].append(draw(VALUES))
    else:
        mappings = [node for path, node in containers(spec)
                    if isinstance(node, dict) and "properties" in (schema_at(path) or {})]
        draw(st.sampled_from(mappings))[draw(NEW_KEYS)] = draw(VALUES)
    return spec


def problem_texts(problems: list[Problem]) -> collections.Counter[tuple[str, str, str, str, str | None]]:
    """What the problems say, apart from where: what the property tests compare across files."""
    return collections.Counter((Path(p.file).name, p.severity, p.code, p.message, p.hint) for p in problems)


def has_features(spec: dict[str, Any]) -> bool:
    return isinstance(spec.get("features"), list) and bool(spec["features"])


BREAKAGES = [(base, "unknown key") for base in sorted(BASES)] + [
    (base, "bad feature") for base in sorted(BASES) if has_features(BASES[base])]


@pytest.mark.parametrize(("base", "breakage"), BREAKAGES)
@fuzz_settings(2)
@given(st.data())
def test_breaking_more_hides_no_problem(base, breakage, data):
    """Whatever problems a spec has, it keeps them all when one more part of it breaks: a
    check skips only what the schema rejected, so a bad feature entry or an unknown key hides
    no problem found elsewhere. Each of tests/specs/{valid,invalid} is a base, changed at most
    once, then broken further. (Positions may move, so problems are compared by what they say.)

    Fails if feature_fields declares needs=("features",) (one bad entry skips them all).
    Fails if validate.invalid_paths puts a missing or unknown key's error at its mapping.
    Fails if validate._unknown_keys gives only the first of a mapping's unknown keys.
    """
    spec = data.draw(mutated_specs(bases=[BASES[base]], changes=(0, 1)))
    further = data.draw(broken_further(spec, breakage))
    with tempfile.TemporaryDirectory() as folder:
        before = problem_texts(validate(as_yaml(spec), Path(folder))[1])
        after = problem_texts(validate(as_yaml(further), Path(folder))[1])
    assert not before - after, f"hidden by breaking more: {sorted(before - after)}"


@fuzz_settings(50)
@given(st.sampled_from(VALID), st.dictionaries(NEW_KEYS, VALUES, min_size=1, max_size=3))
def test_an_unknown_parameter_is_reported_whatever_its_value(spec, extra):
    """A model.params name the estimator does not take is reported, even when the schema also
    rejects its value (a list, a mapping): the name is checked apart from the value.

    Fails if checks.valid_params leaves out, name and all, a param whose value the schema rejects.
    """
    spec = copy.deepcopy(spec)
    spec["model"]["params"] = {**spec["model"].get("params", {}), **extra}
    with tempfile.TemporaryDirectory() as folder:
        messages = {p.message for p in validate(as_yaml(spec), Path(folder))[1] if p.code == "unknown-param"}
    for name in extra:
        assert any(f"has no parameter '{name}'" in message for message in messages), (name, messages)


def required_places(value: Any, node: dict[str, Any], path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(path of a mapping, key) for every key the schema requires that the spec gives."""
    node = resolve(node)
    if isinstance(value, dict):
        properties = node.get("properties", {})
        here = [(path, key) for key in node.get("required", []) if key in value]
        return here + [place for key, child in value.items() if key in properties
                       for place in required_places(child, properties[key], (*path, key))]
    if isinstance(value, list) and "items" in node:
        return [place for i, child in enumerate(value) for place in required_places(child, node["items"], (*path, i))]
    return []


def node_at(spec: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        spec = spec[step]
    return spec


def mapping_position(text: str, path: tuple[Any, ...]) -> tuple[int, int]:
    """Where the mapping at `path` is named in `text`: its key, or itself for the whole spec and
    for a list item. Found with PyYAML's composer, apart from mlgen's loader."""
    node = named = yaml.compose(text)
    for step in path:
        if isinstance(step, int):
            node = named = node.value[step]
        else:
            named, node = next((k, v) for k, v in node.value if k.value == step)
    return named.start_mark.line + 1, named.start_mark.column + 1


@fuzz_settings(100)
@given(st.data())
def test_deleting_a_required_key_is_reported_at_its_mapping(data):
    """Delete required keys from a valid spec (the whole spec's, a feature's, the model's):
    each gets a schema-required problem naming the key, at the mapping that lost it, and
    nothing else is reported (a check skips what needs the key; the rest is still valid).

    Fails if validate._to_problem puts a missing key's problem at its mapping's value (at_key=False).
    Fails if validate._to_problem reports a typeless feature's options ("does not apply to a None feature").
    Fails if estimator() takes an unknown target kind for a classifier (no labeling_config: "Ridge is not...").
    """
    spec = copy.deepcopy(data.draw(st.sampled_from(VALID)))
    deleted = []
    for _ in range(data.draw(st.integers(1, 3))):
        places = required_places(spec, SCHEMA)
        if not places:
            break
        path, key = data.draw(st.sampled_from(places))
        del node_at(spec, path)[key]
        deleted = [(parent, lost) for parent, lost in deleted if parent[:len(path) + 1] != (*path, key)]
        deleted.append((path, key))
    text = json.dumps(spec, indent=data.draw(st.sampled_from([None, 2]))) if data.draw(st.booleans()) else as_yaml(spec)
    with tempfile.TemporaryDirectory() as folder:
        problems = validate(text, Path(folder))[1]
    expected = {("schema-required", key, mapping_position(text, path)) for path, key in deleted}
    found = {(p.code, p.message.rpartition(" ")[2].strip("'"), (p.line, p.column)) for p in problems}
    assert found == expected, (deleted, problems)


# What a JSON file holds: finite numbers, string keys. And characters of the Basic Multilingual
# Plane only: JSON escapes the others as surrogate pairs ("\ud83d\ude00"), which YAML, and so
# mlgen's loader, refuses ("invalid Unicode character escape code").
BMP_TEXT = st.text(st.characters(max_codepoint=0xFFFF), max_size=30)
JSON_VALUES = values(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                               st.floats(allow_nan=False, allow_infinity=False), BMP_TEXT),
                     st.text(st.characters(max_codepoint=0xFFFF), max_size=10))


def json_form(spec: Any) -> bool:
    """Whether JSON holds `spec` as it is (string keys, finite numbers, BMP characters)."""
    try:
        text = json.dumps(spec, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    return json.loads(text) == spec and all(ord(c) <= 0xFFFF for c in text)


JSON_BASES = sorted(name for name, spec in BASES.items() if json_form(spec))
JSON_KEYS = st.text(st.characters(max_codepoint=0xFFFF), max_size=10)


def owners(loaded: Any, line: int, column: int) -> set[tuple[Any, ...]]:
    """The spec paths whose node a position lies in: those whose key or value starts last at or
    before it (several when they start together, as a YAML mapping and its first key do)."""
    starts: dict[tuple[int, int], set[tuple[Any, ...]]] = collections.defaultdict(set)
    for path, at in loaded.positions.items():
        for start in ((at.line, at.column), (at.key_line, at.key_column)):
            if start <= (line, column):
                starts[start].add(path)
    return starts[max(starts)] if starts else set()


@pytest.mark.parametrize("base", JSON_BASES)
@fuzz_settings(3)
@given(st.data(), st.sampled_from([None, 2]))
def test_json_and_yaml_forms_agree(base, data, indent):
    """A spec written as JSON and as YAML gets the same problems (file, severity, code,
    message, hint), each in the node of the same path in both (a place in the inline XML: in
    the labeling config's). Each of tests/specs/{valid,invalid} is a base, changed at most once.

    Fails if validate_loaded drops a check's problem where a schema problem is (the old dedupe).
    Fails if Context._inline_xml_position maps XML line 2 of a quoted config to the spec's next line.
    """
    spec = data.draw(mutated_specs(JSON_VALUES, JSON_KEYS, [BASES[base]], changes=(0, 1)))
    mappings = [node for _, node in containers(spec) if isinstance(node, dict)]
    if data.draw(st.booleans()):  # an unknown key first: in YAML it starts where its mapping does
        mapping = data.draw(st.sampled_from(mappings))
        items = list(mapping.items())
        mapping.clear()
        mapping.update([(data.draw(NEW_KEYS), data.draw(JSON_VALUES)), *items])
    with tempfile.TemporaryDirectory() as folder:
        json_loaded, json_problems = validate(json.dumps(spec, indent=indent), Path(folder))
        yaml_loaded, yaml_problems = validate(as_yaml(spec), Path(folder))
    assert problem_texts(json_problems) == problem_texts(yaml_problems)
    if json_loaded is None or yaml_loaded is None:
        return  # not loaded: its one problem says why
    for in_json, in_yaml in zip(sorted(json_problems, key=said), sorted(yaml_problems, key=said)):
        if Path(in_json.file).name == "backend.yaml":  # not in a labeling config file of its own
            where = owners(json_loaded, in_json.line, in_json.column), owners(yaml_loaded, in_yaml.line, in_yaml.column)
            assert where[0] & where[1], (in_json, in_yaml, where)


def said(problem: Problem) -> tuple[Any, ...]:
    """A problem's words first, then its place: sorts the problems of both forms alike."""
    return (problem.severity, problem.code, problem.message, problem.hint or "", problem.line, problem.column)


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema accepts at `node` (strings without a pattern: its examples, if any)."""
    node = resolve(node)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "oneOf" in node:
        return st.one_of([from_schema(option) for option in node["oneOf"]])
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    return st.one_of([of_type(name, node) for name in types])


def of_type(name: str, node: dict[str, Any]) -> st.SearchStrategy[Any]:
    if name == "null":
        return st.none()
    if name == "boolean":
        return st.booleans()
    if name == "integer":
        low = node.get("minimum", -10**6)
        return st.integers(low, node.get("maximum", low + 10**6))
    if name == "number":
        return st.floats(node.get("exclusiveMinimum", node.get("minimum")), node.get("exclusiveMaximum", node.get("maximum")),
                         exclude_min="exclusiveMinimum" in node, exclude_max="exclusiveMaximum" in node,
                         allow_nan=False, allow_infinity=False)
    if name == "string":
        if "pattern" in node:
            return st.from_regex(node["pattern"], fullmatch=True)
        if "examples" in node:
            return st.sampled_from(node["examples"])
        return st.text(min_size=node.get("minLength", 0), max_size=min(node.get("maxLength", 30), 30))
    if name == "array":
        return st.lists(from_schema(node["items"]), min_size=node.get("minItems", 0), max_size=node.get("maxItems", 3))
    assert name == "object", name
    return st.fixed_dictionaries({}, optional={key: from_schema(prop) for key, prop in node.get("properties", {}).items()})


FEATURE = SCHEMA["definitions"]["feature"]
FEATURE_KEYS = {rule["if"]["properties"]["type"]["const"]: rule["then"]["propertyNames"]["enum"] for rule in FEATURE["allOf"]}
SECTIONS = ("training", "evaluation", "promotion", "active_learning", "prediction", "server")


@st.composite
def schema_valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec (its labeling config, target, fields and model) with every option the
    schema offers drawn afresh: name, description, each section, each feature's options."""
    spec = copy.deepcopy(draw(st.sampled_from(VALID)))
    spec["name"] = draw(from_schema(SCHEMA["properties"]["name"]))
    spec["description"] = draw(st.text(max_size=40))
    for section in SECTIONS:
        spec.pop(section, None)
        if draw(st.booleans()):
            spec[section] = draw(from_schema(SCHEMA["properties"][section]))
    spec["features"] = [draw(feature_options(feature)) for feature in spec["features"]]
    return spec


def feature_options(feature: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    options = {key: from_schema(FEATURE["properties"][key]) for key in FEATURE_KEYS[feature["type"]]
               if key not in ("field", "type")}
    return st.fixed_dictionaries({"field": st.just(feature["field"]), "type": st.just(feature["type"])}, optional=options)


def loaded_without_errors(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The normalized spec; assumes (hypothesis.assume) that validation finds no error."""
    path = folder / "backend.yaml"
    path.write_text(as_yaml(spec), encoding="utf-8")
    _, problems = validate_file(str(path))
    assume(not has_errors(problems))
    return load_spec(path)


@fuzz_settings(25)
@given(schema_valid_specs())
def test_a_spec_without_errors_builds_its_service(spec):
    """A spec without errors loads, and the runtime (the template's backend, as the unit tests
    import it) builds its service, web app and unfitted model from the normalized spec.

    Fails if normalize leaves out the training defaults (monkeypatched: KeyError in Config.from_spec).
    """
    from backend.app import create_app
    from backend.model import build_model
    from backend.settings import load_settings
    from backend.wiring import create_service

    with tempfile.TemporaryDirectory() as folder:
        normalized = loaded_without_errors(spec, Path(folder))
        service = create_service(normalized, load_settings(normalized, {"MODEL_DIR": str(Path(folder) / "state")}))
        create_app(service)
        build_model(service.config, service.target)


IMPORT = ("import backend.app\n"
          "from backend.model import build_model\n"
          "from backend.wiring import create_service\n"
          "service = create_service()\n"
          "backend.app.create_app(service)\n"
          "build_model(service.config, service.target)\n")


@settings(fuzz_settings(2), phases=[Phase.explicit, Phase.generate])  # no shrinking: a Python per step
@given(schema_valid_specs())
def test_a_spec_without_errors_renders_a_project_that_imports(spec):
    """A spec without errors renders (mlgen's API, into a temporary directory), and its project's
    own backend package, in a fresh interpreter started in the project, imports and builds its
    service and model from the project's spec.json. Few examples: each starts a Python.

    Fails if render.spec_json writes another spec version (monkeypatched: backend.spec refuses it).
    """
    with tempfile.TemporaryDirectory() as folder:
        loaded_without_errors(spec, Path(folder))
        project = render_backend(Path(folder) / "backend.yaml", Path(folder) / "project")
        environment = {"PATH": os.environ.get("PATH", ""), "MODEL_DIR": str(Path(folder) / "state")}
        result = subprocess.run([sys.executable, "-c", IMPORT], cwd=project, capture_output=True, text=True,
                                env=environment)  # nothing else: no PYTHONPATH to find another backend by
    assert result.returncode == 0, result.stderr[-3000:]
