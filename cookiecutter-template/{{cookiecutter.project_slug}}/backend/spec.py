"""Load spec.json, the normalized backend spec that mlgen wrote next to this package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPEC_VERSION = 1


class SpecError(RuntimeError):
    """spec.json is missing, unreadable, or written for another runtime."""


def load_spec(path: str | Path) -> dict[str, Any]:
    """The spec at `path` (settings.spec_path() says where the service's is)."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read the backend spec {path}: {exc}") from None
    if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
        found = spec.get("version") if isinstance(spec, dict) else None
        raise SpecError(
            f"{path} is spec version {found!r}; this runtime reads version {SPEC_VERSION}. "
            "Render the project again with a matching mlgen."
        )
    return spec
