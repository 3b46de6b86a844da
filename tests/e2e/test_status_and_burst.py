"""The service as an operator meets it: a burst of annotations, and the /status page in a
real headless browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import REPO
from procs import Service, wait_for
from test_lifecycle import annotate, render, version

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(os.environ.get("MLGEN_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_a_burst_of_50_annotations_makes_one_or_two_trainings(runtime_python, tmp_path):
    project = render(tmp_path, {"class": "LogisticRegression"}, debounce=1.0)
    service = Service(runtime_python, project, tmp_path / "state")
    try:
        annotate(service, 50)
        wait_for(lambda: version(service) != "moods-untrained")
        wait_for(service.idle)
        trainings = [v for v in service.get("/versions")["details"] if v["project"] == "3"]
        assert 1 <= len(trainings) <= 2, f"50 webhooks made {len(trainings)} trainings"
        assert service.get("/metrics")["annotations"] == 50
    finally:
        assert service.stop() == 0


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def test_status_page_draws_the_learning_curve_in_chromium(runtime_python, tmp_path):
    browser = chromium()
    project = render(tmp_path, {"class": "LogisticRegression"}, debounce=0.2, retrain_every=4)
    service = Service(runtime_python, project, tmp_path / "state")
    try:
        for rounds in range(1, 4):  # three trainings: three points on the curve
            annotate(service, 8 * rounds)
            wait_for(lambda rounds=rounds: len(service.get("/versions")["details"]) >= rounds)
        wait_for(service.idle)
        profile = tmp_path / "chromium-profile"
        dom = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                              service.url + "/status"], capture_output=True, text=True, timeout=120).stdout
        assert 'class="learning-curve"' in dom
        assert dom.count('class="point') >= 3 and "<polyline" in dom
        assert "Serving" in dom and "moods-v" in dom
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                        "--window-size=1100,900", service.url + "/status"], capture_output=True, timeout=120)
        assert shot.exists() and shot.stat().st_size > 10_000
    finally:
        assert service.stop() == 0
