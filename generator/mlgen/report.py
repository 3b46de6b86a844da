"""Print problems for people (text), for programs (json) and for GitHub Actions (github)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import click

from .problems import Problem

GITHUB_LIMIT = 50  # GitHub shows only so many annotations per step; the rest are summarised
COLORS = {"error": "red", "warning": "yellow"}


def format_text(problems: Iterable[Problem], color: bool = False) -> str:
    lines = []
    for p in problems:
        severity = click.style(p.severity, fg=COLORS.get(p.severity), bold=True) if color else p.severity
        where = click.style(f"{p.file}:{p.line}:{p.column}", bold=True) if color else f"{p.file}:{p.line}:{p.column}"
        lines.append(f"{where}: {severity}[{p.code}]: {p.message}")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    return "\n".join(lines)


def format_json(results: dict[str, list[Problem]], failed: bool) -> str:
    problems = [p.as_dict() for ps in results.values() for p in ps]
    return json.dumps({"status": "fail" if failed else "ok", "files": len(results), "problems": problems}, indent=2)


def format_github(problems: list[Problem]) -> str:
    """Workflow commands that GitHub Actions turns into annotations on the changed lines."""
    lines = []
    for p in problems[:GITHUB_LIMIT]:
        message = p.message + (f" (hint: {p.hint})" if p.hint else "")
        properties = f"file={_property(p.file)},line={p.line},col={p.column},title={_property('mlgen ' + p.code)}"
        lines.append(f"::{p.severity} {properties}::{_data(message)}")
    if len(problems) > GITHUB_LIMIT:
        lines.append(f"::notice::{len(problems) - GITHUB_LIMIT} more problems; run mlgen validate locally to see all")
    return "\n".join(lines)


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
