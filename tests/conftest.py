"""Shared paths; the runtime package is importable as `backend`, straight from the template."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
SAMPLES = REPO / "samples"
PAYLOADS = REPO.parent / "shared" / "ls-payloads"

sys.path.insert(0, str(TEMPLATE_PROJECT))
