"""Paths the tests share."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
SAMPLES = REPO / "samples"
PAYLOADS = REPO.parent / "shared" / "ls-payloads"
