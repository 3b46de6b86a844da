"""Where mlgen's data lives: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent


def _find(name: str) -> Path:
    for base in (_PACKAGE / "_data", _CHECKOUT):
        if (base / name).exists():
            return base / name
    raise FileNotFoundError(f"mlgen is installed without its {name} folder")


def template_dir() -> Path:
    return _find("cookiecutter-template")


def runtime_dir() -> Path:
    """The runtime package that generated projects carry, copied verbatim."""
    return template_dir() / "{{cookiecutter.project_slug}}" / "backend"


def schema_path() -> Path:
    return _find("schemas") / "backend.schema.json"


@cache
def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))
