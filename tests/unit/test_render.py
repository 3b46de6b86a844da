"""Rendering: the exact layout, no template leftovers, a faithful spec.json, hostile strings
kept as data, and the CLI's refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import TEMPLATE_PROJECT
from mlgen import load_spec, render_backend
from mlgen.cli import main
from mlgen.errors import OutputExistsError

# Every runtime module and generated test is copied; the rest is rendered.
EXPECTED = {
    ".dockerignore", ".gitignore", "Dockerfile", "README.md", "docker-compose.yml",
    "docker-compose.scale.yml", "haproxy.cfg", "requirements.txt", "requirements-scale.txt",
    "requirements-test.txt", "spec.json",
    *(str(p.relative_to(TEMPLATE_PROJECT)) for folder in ("backend", "tests")
      for p in (TEMPLATE_PROJECT / folder).rglob("*.py") if "__pycache__" not in p.parts),
}
assert {"backend/app.py", "backend/targets/base.py", "tests/test_api.py"} <= EXPECTED
HOSTILE = [
    'quote"s', "back\\slash", "new\nline", "{{ 7*7 }}", "{% raw %}", "ünïcödé ✓",
    "__import__('os').system('echo PWNED')", "'); import os; #", "${HOME}",
]


def write_spec(tmp_path: Path, labels: list[str], description: str = "", name: str = "demo",
               control: str = "topic", obj: str = "text") -> Path:
    from xml.sax.saxutils import quoteattr

    choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in labels)
    config = (f'<View><Text name={quoteattr(obj)} value="$text"/>'
              f"<Choices name={quoteattr(control)} toName={quoteattr(obj)}>{choices}</Choices></View>")
    spec = {
        "version": 1, "name": name, "description": description, "labeling_config": config,
        "features": [{"field": "text", "type": "text"}],
        "model": {"class": "LogisticRegression", "params": {"max_iter": 200}},
    }
    path = tmp_path / "backend.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def test_layout_and_spec_json(tmp_path):
    spec_path = write_spec(tmp_path, ["a", "b"])
    project = render_backend(spec_path, tmp_path / "out")
    files = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    assert files == EXPECTED
    for path in files:
        text = (project / path).read_text()
        if path.startswith(("backend/", "tests/")):  # copied verbatim, byte for byte
            assert text == (TEMPLATE_PROJECT / path).read_text(), path
        else:  # rendered: no Jinja left behind
            assert "{{" not in text and "{%" not in text and "cookiecutter" not in text, path
    spec = json.loads((project / "spec.json").read_text())
    assert spec == load_spec(spec_path)
    assert spec["model"]["class"] == "sklearn.linear_model.LogisticRegression"
    assert spec["target"] == "topic" and spec["training"]["min_annotations"] == 10
    assert "topic" in (project / "README.md").read_text()


def test_refuses_non_empty_output_unless_forced(tmp_path):
    spec_path = write_spec(tmp_path, ["a", "b"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        render_backend(spec_path, out)
    render_backend(spec_path, out, force=True)
    assert (out / "keep.txt").read_text() == "mine" and (out / "spec.json").exists()


def test_hostile_strings_stay_data(tmp_path):
    spec_path = write_spec(tmp_path, HOSTILE, description="{{ 7*7 }} {% raw %} \"' \\ ✓")
    project = render_backend(spec_path, tmp_path / "out")
    spec = json.loads((project / "spec.json").read_text())
    readme = (project / "README.md").read_text()
    assert "{{ 7*7 }} {% raw %}" in readme and "49" not in readme
    code = (
        "import sys; sys.path.insert(0, '.');"
        "from backend.spec import load_spec; from backend.labelconfig import parse_label_config, find_target;"
        "s = load_spec('spec.json'); t = find_target(parse_label_config(s['labeling_config']), s['target']);"
        "print(__import__('json').dumps(list(t.labels)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=True)
    assert "PWNED" not in result.stdout.splitlines()  # the label is printed, never run
    assert json.loads(result.stdout) == HOSTILE
    assert spec["description"].startswith("{{ 7*7 }}")
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


def test_cli_render(tmp_path):
    spec_path = write_spec(tmp_path, ["a", "b"])
    runner = CliRunner()
    result = runner.invoke(main, ["render", str(spec_path), "-o", str(tmp_path / "p")])
    assert result.exit_code == 0 and "python -m backend serve" in result.output
    result = runner.invoke(main, ["render", str(spec_path), "-o", str(tmp_path / "p")])
    assert result.exit_code == 1 and "--force" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\n")
    result = runner.invoke(main, ["render", str(bad)])
    assert result.exit_code == 1 and "bad.yaml:1:1: error[schema-required]" in result.output


def test_schema_is_draft07_and_described():
    import jsonschema
    from mlgen.resources import load_schema

    schema = load_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    text = json.dumps(schema)
    for banned in ("prefixItems", "unevaluatedProperties", "$dynamicRef", "dependentSchemas", "$defs"):
        assert banned not in text

    def walk(node, where):
        for key, prop in node.get("properties", {}).items():
            if "$ref" in prop:
                prop = schema["definitions"][prop["$ref"].rsplit("/", 1)[-1]]
            assert "description" in prop, f"{where}.{key} has no description"
            assert "default" in prop or "examples" in prop, f"{where}.{key} has no default or example"
            walk(prop, f"{where}.{key}")

    walk(schema, "$")
    for name, definition in schema["definitions"].items():
        walk(definition, name)


def test_hostile_project_passes_its_own_tests(tmp_path):
    spec = write_spec(tmp_path, HOSTILE[:5], control='to"p\\ic {{ 7*7 }}', obj="tëxt '{% raw %}")
    project = render_backend(spec, tmp_path / "out")
    assert json.loads((project / "spec.json").read_text())["target"] == 'to"p\\ic {{ 7*7 }}'
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_spec_reference_is_up_to_date():
    from helpers import REPO
    from mlgen.reference import spec_reference

    page = REPO / "docs" / "spec-reference.md"
    assert page.read_text() == spec_reference(), "run: mlgen schema --markdown > docs/spec-reference.md"
