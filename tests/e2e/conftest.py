"""End-to-end fixtures."""

from __future__ import annotations

from pathlib import Path

import helpers
import pytest


@pytest.fixture(scope="session")
def runtime_python() -> Path:
    """A venv with the generated projects' pinned requirements (see helpers.runtime_python)."""
    return helpers.runtime_python()
