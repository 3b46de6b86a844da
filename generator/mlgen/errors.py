"""Exceptions the mlgen API raises for user errors (never for bugs)."""

from __future__ import annotations

from .problems import Problem


class MlgenError(Exception):
    """Base of every user-facing mlgen error."""


class InvalidSpecError(MlgenError):
    """The spec has errors; `problems` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"the spec has {sum(p.is_error for p in problems)} error(s)")
        self.problems = problems


class OutputExistsError(MlgenError):
    """The output directory is not empty and --force was not given."""
