"""The CLI's wiring: paths, formats, exit codes, colour, init."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import SAMPLES
from mlgen.cli import main

SPECS = Path(__file__).resolve().parent.parent / "specs"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_directories_and_globs(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(SPECS / "valid" / "minimal.yaml", tmp_path / name / "backend.yaml")
    (tmp_path / "b" / "other.backend.yaml").write_text((SPECS / "invalid" / "unknown-param.yaml").read_text())
    (tmp_path / "b" / "compose.yaml").write_text("not: a spec\n")  # not a spec name: left alone
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 1 and "3 spec(s) checked: 1 error(s)" in result.output
    result = invoke("validate", str(tmp_path / "*" / "backend.yaml"))
    assert result.exit_code == 0 and "2 spec(s) checked" in result.output
    assert invoke("validate", str(tmp_path / "nothing-*.yaml")).exit_code == 2


def test_github_format_chosen_under_actions():
    path = str(SPECS / "invalid" / "unknown-param.yaml")
    result = invoke("validate", path, env={"GITHUB_ACTIONS": "true"})
    assert result.output.startswith(f"::error file={path},line=17,col=5,title=mlgen unknown-param::")
    assert result.exit_code == 1


def test_strict_makes_warnings_fail():
    path = str(SPECS / "invalid" / "min-annotations-one.yaml")
    assert invoke("validate", path).exit_code == 0
    assert invoke("validate", "--strict", path).exit_code == 1


def test_json_format():
    out = json.loads(invoke("validate", "--format", "json", str(SPECS / "invalid" / "unknown-param.yaml")).output)
    assert out["status"] == "fail" and out["problems"][0]["code"] == "unknown-param"
    assert set(out["problems"][0]) == {"file", "line", "column", "severity", "code", "message", "hint"}


def test_color_only_when_asked_or_on_a_terminal():
    path = str(SPECS / "invalid" / "unknown-param.yaml")
    assert "\x1b[" not in invoke("validate", path).output
    assert "\x1b[" in CliRunner().invoke(main, ["validate", "--color", "always", path], color=True).output


def test_no_color_is_respected(monkeypatch):
    from mlgen.cli import use_color

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert use_color("auto")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color("auto") and use_color("always")


def test_internal_errors_exit_3_with_a_report_line(tmp_path):
    code = ("import mlgen.cli, mlgen.validate; "
            "mlgen.cli.validate_file = lambda p: 1 / 0; "
            "import sys; sys.argv = ['mlgen', 'validate', sys.argv[1]]; mlgen.cli.run()")
    result = subprocess.run([sys.executable, "-c", code, str(SPECS / "valid" / "minimal.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 3 and "please report" in result.stderr


def test_usage_errors_exit_2():
    result = subprocess.run([sys.executable, "-c", "import mlgen.cli; mlgen.cli.run()", "validate", "--format", "xml", "x"],
                            capture_output=True, text=True)
    assert result.returncode == 2


# Where a sample's spec knowingly differs from what init infers: diabetes reads `sex`, a 1/2 code,
# as a category.
INIT_DIFFERS = {"diabetes": {("patient.sex", "category")}}


@pytest.mark.parametrize("sample", ["topics", "penguins", "multitopic", "diabetes"])
def test_init_writes_a_valid_spec_matching_the_sample(sample, tmp_path):
    out = tmp_path / "backend.yaml"
    result = invoke("init", "--from-config", str(SAMPLES / sample / "labeling_config.xml"),
                    "--tasks", str(SAMPLES / sample / "tasks.json"), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert invoke("validate", str(out)).exit_code == 0
    import yaml

    spec = yaml.safe_load(text)
    wanted = yaml.safe_load((SAMPLES / sample / "backend.yaml").read_text())
    assert spec["target"] == wanted["target"]
    inferred = {(f["field"], f["type"]) for f in spec["features"]}
    declared = {(f["field"], f["type"]) for f in wanted["features"]}
    assert inferred ^ declared <= {(field, t) for field, _ in INIT_DIFFERS.get(sample, ())
                                   for t in ("number", "category")}
    assert spec["evaluation"]["metric"] == wanted["evaluation"]["metric"]
    assert invoke("init", "--from-config", str(SAMPLES / sample / "labeling_config.xml"), "-o", str(out)).exit_code == 1


def test_init_explains_what_it_needs(tmp_path):
    config = tmp_path / "c.xml"
    config.write_text('<View><Table name="t" value="$row"/><Choices name="c" toName="t"><Choice value="a"/>'
                      '<Choice value="b"/></Choices></View>')
    result = invoke("init", "--from-config", str(config), "-o", str(tmp_path / "b.yaml"))
    assert result.exit_code == 1 and "--tasks" in result.output
    config.write_text('<View><Image name="i" value="$x"/><RectangleLabels name="r" toName="i"><Label value="a"/>'
                      '</RectangleLabels></View>')
    result = invoke("init", "--from-config", str(config), "-o", str(tmp_path / "b.yaml"))
    assert result.exit_code == 1 and "<Choices>, <Labels>, <Number>, <Rating>" in result.output


def test_a_directory_without_a_spec_is_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("validate", str(SAMPLES), str(tmp_path / "empty"))
    assert result.exit_code == 2 and "no spec found in" in result.output and "0 error(s)" not in result.output
