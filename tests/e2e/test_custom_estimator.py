"""A spec naming the user's own estimator renders a project that copies it, trains it, saves
and reloads its models (trusting its module and nothing else new), and passes its own tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mlgen import render_backend

pytestmark = pytest.mark.e2e
SPEC = Path(__file__).resolve().parent.parent / "specs" / "custom" / "valid.yaml"


def test_the_users_estimator_is_copied_trained_and_served(runtime_python, tmp_path):
    project = render_backend(SPEC, tmp_path / "project")
    assert (project / "custom" / "centroid.py").read_text() == (SPEC.parent / "centroid.py").read_text()
    assert "COPY custom ./custom" in (project / "Dockerfile").read_text()
    assert json.loads((project / "spec.json").read_text())["model"]["class"] == "centroid:SoftCentroid"
    own_tests = subprocess.run([str(runtime_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               cwd=project, capture_output=True, text=True)
    assert own_tests.returncode == 0, own_tests.stdout[-3000:]
    check = ("from backend.wiring import create_service; s = create_service();"
             "print(sorted(s.registry.trusted))")
    trusted = subprocess.run([str(runtime_python), "-c", check], cwd=project, capture_output=True, text=True,
                             env={"MODEL_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"})
    assert trusted.returncode == 0, trusted.stderr
    assert "'custom.centroid.'" in trusted.stdout and "custom." not in trusted.stdout.replace("custom.centroid.", "")
