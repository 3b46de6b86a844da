"""The Problem record: one thing wrong with a spec, and where."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    severity: str  # "error" or "warning"
    code: str  # short, stable kebab-case id
    message: str
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def has_errors(problems: list[Problem]) -> bool:
    return any(p.is_error for p in problems)
