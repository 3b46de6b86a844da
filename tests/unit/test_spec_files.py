"""Every file under tests/specs is a case: valid/ must give no problem; invalid/ files mark
each expected problem with a `# E: code` (error) or `# W: code` (warning) comment on its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import SAMPLES
from mlgen import validate_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"
MARK = re.compile(r"#\s*([EW]):\s*([a-z0-9-]+)")


def cases(kind: str) -> list[Path]:
    return sorted((SPECS / kind).glob("*.yaml"))


@pytest.mark.parametrize("path", cases("valid") + sorted(SAMPLES.glob("*/backend.yaml")), ids=str)
def test_valid(path):
    assert [p for p in validate_spec(path)] == []


@pytest.mark.parametrize("path", cases("invalid"), ids=lambda p: p.name)
def test_invalid(path):
    expected = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for severity, code in MARK.findall(line):
            expected.add((number, "error" if severity == "E" else "warning", code))
    assert expected, f"{path.name} marks no expected problem"
    found = {(p.line, p.severity, p.code) for p in validate_spec(path)}
    assert found == expected
