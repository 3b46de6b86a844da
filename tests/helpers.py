"""Paths the tests share."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
SAMPLES = REPO / "samples"
PAYLOADS = REPO / "tests" / "fixtures" / "ls-payloads"
CACHE = Path(os.environ.get("MLGEN_CACHE", REPO / ".cache"))


def runtime_python() -> Path:
    """A venv with the generated projects' pinned requirements, made once and reused while
    they are unchanged (its name carries their hash)."""
    requirements = [TEMPLATE_PROJECT / "requirements.txt", TEMPLATE_PROJECT / "requirements-test.txt"]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in requirements)).hexdigest()[:12]
    venv = CACHE / f"runtime-venv-{key}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        args = [str(python), "-m", "pip", "install", "-q"]
        for path in requirements:
            args += ["-r", str(path)]
        subprocess.run(args, check=True)
        (venv / ".complete").touch()
    return python
