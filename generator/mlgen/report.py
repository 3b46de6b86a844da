"""Print problems for people (text) or for programs (json)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .problems import Problem


def format_text(problems: Iterable[Problem]) -> str:
    lines = []
    for p in problems:
        lines.append(f"{p.file}:{p.line}:{p.column}: {p.severity}[{p.code}]: {p.message}")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    return "\n".join(lines)


def format_json(results: dict[str, list[Problem]]) -> str:
    problems = [p.as_dict() for ps in results.values() for p in ps]
    status = "fail" if any(p["severity"] == "error" for p in problems) else "ok"
    return json.dumps({"status": status, "files": len(results), "problems": problems}, indent=2)
