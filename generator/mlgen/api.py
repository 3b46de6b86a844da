"""mlgen's Python API: load, validate and render specs. The CLI is a thin layer over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InvalidSpecError
from .problems import Problem, has_errors
from .validate import validate_file


def validate_spec(path: str | Path) -> list[Problem]:
    """Every problem of the spec at `path`, sorted by position (empty when it is valid)."""
    return validate_file(str(path))[1]


def load_spec(path: str | Path) -> dict[str, Any]:
    """The spec at `path`, normalized as the generated service reads it (spec.json)."""
    from .normalize import normalize

    loaded, problems = validate_file(str(path))
    if loaded is None or has_errors(problems):
        raise InvalidSpecError(problems)
    return normalize(loaded)


def render_backend(path: str | Path, output: str | Path | None = None, force: bool = False) -> Path:
    """Validate the spec at `path` and render its project into `output` (default: ./NAME)."""
    from .custom import project_files
    from .render import render_project

    spec = load_spec(path)
    return render_project(spec, Path(output) if output else Path(spec["name"]), force=force,
                          files=project_files(spec, Path(path)))
