"""Pins that must agree across the files that state them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jinja2
from helpers import REPO, TEMPLATE_PROJECT


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        assert "==" in spec, spec


def test_the_test_extra_pins_the_runtime_as_generated_projects_do():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    ours = pins(project["dependencies"] + project["optional-dependencies"]["test"])
    runtime = pins((TEMPLATE_PROJECT / "requirements.txt").read_text().splitlines())
    shared = set(ours) & set(runtime)
    assert {"bottle", "huey", "skops", "sqlite-utils", "waitress", "scikit-learn"} <= shared
    assert {name: ours[name] for name in shared} == {name: runtime[name] for name in shared}


def test_the_test_extra_pins_the_distributed_mode_as_generated_projects_do():
    """requirements-scale.txt (the Redis and PostgreSQL clients, and what they pull in beyond
    requirements.txt) pins what the test extra pins (the unit tests run the store and queue with them)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    ours = pins(project["optional-dependencies"]["test"])
    scale = pins((TEMPLATE_PROJECT / "requirements-scale.txt").read_text().splitlines())
    runtime = pins((TEMPLATE_PROJECT / "requirements.txt").read_text().splitlines())
    assert {"redis", "psycopg", "psycopg-binary"} <= set(scale)
    assert {name: ours.get(name) for name in scale} == scale
    assert set(scale) & set(runtime) == set()


def test_image_libraries_are_required_only_by_specs_that_use_them():
    """requirements.txt is rendered: Pillow only with an image feature, scikit-image (and what it
    pulls in, pinned: pip freeze of a clean venv) only with representation 'hog'."""
    template = jinja2.Environment(keep_trailing_newline=True).from_string(
        (TEMPLATE_PROJECT / "requirements.txt").read_text())

    def rendered(**flags: bool) -> dict[str, str]:
        return pins(template.render(cookiecutter={"_summary": flags}).splitlines())

    plain, images, hog = rendered(), rendered(images=True), rendered(images=True, hog=True)
    assert set(images) - set(plain) == {"pillow"} and set(plain) <= set(images)
    assert set(hog) - set(images) == {"scikit-image", "imageio", "lazy-loader", "networkx", "tifffile"}


def test_the_code_passes_ruff():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is in the test extra"
    folders = ["generator", str(TEMPLATE_PROJECT), "tests", "benchmarks", "samples"]
    result = subprocess.run([ruff, "check", "--output-format", "concise", *folders], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_nothing_reads_outside_the_repository():
    """A user's clone has nothing beside it: no code may reach for a folder next to the repo."""
    pattern = re.compile(r"REPO\.parent|\.\./shared|/work/shared|parent\s*/\s*\"shared\"")
    offenders = []
    for folder in ("generator", "cookiecutter-template", "tests", "benchmarks", "samples"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".toml", ".txt", ".cfg"} and path != Path(__file__):
                if pattern.search(path.read_text(errors="replace")):
                    offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
