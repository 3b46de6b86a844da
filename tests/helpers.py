"""Paths the tests share."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import jinja2

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
SAMPLES = REPO / "samples"
PAYLOADS = REPO / "tests" / "fixtures" / "ls-payloads"
CACHE = Path(os.environ.get("MLGEN_CACHE", REPO / ".cache"))


REQUIREMENTS = ("requirements.txt", "requirements-test.txt")
SCALE_REQUIREMENTS = "requirements-scale.txt"  # the distributed mode's clients (PostgreSQL, Redis)


def runtime_requirements(project: Path | None = None, scale_out: bool = False) -> str:
    """The pinned requirements of a generated project: those `project` was rendered with, or,
    without one, the template's as a project without optional parts renders them (requirements.txt
    is a Jinja template: Pillow only with an image feature, scikit-image only with 'hog').
    `scale_out`: requirements-scale.txt too, as the distributed mode installs it."""
    names = REQUIREMENTS + ((SCALE_REQUIREMENTS,) if scale_out else ())
    if project is not None:
        return "".join((project / name).read_text(encoding="utf-8") for name in names)
    environment = jinja2.Environment(keep_trailing_newline=True)  # as cookiecutter renders
    context = {"cookiecutter": {"_summary": {"images": False, "hog": False}}}
    return "".join(environment.from_string((TEMPLATE_PROJECT / name).read_text(encoding="utf-8")).render(context)
                   for name in names)


def runtime_python(project: Path | None = None, scale_out: bool = False) -> Path:
    """A venv with a generated project's pinned requirements (see runtime_requirements), made
    once and reused while they are unchanged (its name carries their hash): text and tabular
    projects share one, a project with images gets one with Pillow, and `scale_out` one with the
    distributed mode's psycopg and redis as well (the default venv stays as it was)."""
    requirements = runtime_requirements(project, scale_out)
    key = hashlib.sha256(requirements.encode()).hexdigest()[:12]
    venv = CACHE / f"runtime-venv-{key}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        (venv / "requirements.txt").write_text(requirements, encoding="utf-8")
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(venv / "requirements.txt")], check=True)
        (venv / ".complete").touch()
    if not (venv / ".compiled-OO").exists():  # the libraries' bytecode for python -OO too, as the Docker image has
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run([str(python), "-OO", "-m", "compileall", "-q", "-j", "0", "-x", "/tests?/", site], check=True,
                       stdout=subprocess.DEVNULL)
        (venv / ".compiled-OO").touch()
    return python
