"""End-to-end fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import helpers
import pytest


@pytest.fixture(scope="session")
def runtime_python() -> Path:
    """A venv with the generated projects' pinned requirements (see helpers.runtime_python)."""
    return helpers.runtime_python()


@pytest.fixture(scope="session")
def scale_out_python() -> Path:
    """The same venv plus the distributed mode's requirements-scale.txt (psycopg, redis), for
    web replicas and workers on PostgreSQL and Redis (see helpers.runtime_python)."""
    return helpers.runtime_python(scale_out=True)


@pytest.fixture(scope="session")
def python_for(runtime_python: Path) -> Callable[[Path], Path]:
    """The venv for a rendered project: the shared one, or, when the project's requirements
    differ (Pillow for an image feature), one of its own (see helpers.runtime_python)."""
    return helpers.runtime_python
