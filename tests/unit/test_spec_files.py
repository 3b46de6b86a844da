"""Every file under tests/specs is a case: valid/ must give no problem; invalid/ files mark
each expected problem with a `# E: code` (error) or `# W: code` (warning) comment on its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import SAMPLES
from mlgen import validate_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"
# "# E: code" expects a problem on its own line; "# E@12: code" on line 12 (for lines inside a
# YAML block scalar, where a comment would be part of the value). XML files use <!-- E: code -->.
MARK = re.compile(r"(?:#|<!--)\s*([EW])(?:@(\d+))?:\s*([a-z0-9-]+)")


def cases(kind: str) -> list[Path]:
    """Specs in tests/specs/KIND; custom/ holds both kinds (beside the estimator module they
    name), its valid case being valid.yaml."""
    custom = sorted((SPECS / "custom").glob("*.yaml"))
    extra = [p for p in custom if (p.name == "valid.yaml") == (kind == "valid")]
    return sorted((SPECS / kind).glob("*.yaml")) + extra


@pytest.mark.parametrize("path", cases("valid") + sorted(SAMPLES.glob("*/backend.yaml")), ids=str)
def test_valid(path):
    assert [p for p in validate_spec(path)] == []


@pytest.mark.parametrize("path", cases("invalid"), ids=lambda p: p.name)
def test_invalid(path):
    expected = set()
    for case_file in (path, path.with_suffix(".xml")):
        if not case_file.exists():
            continue
        for number, line in enumerate(case_file.read_text(errors="replace").splitlines(), start=1):
            for severity, at, code in MARK.findall(line):
                expected.add((case_file.name, int(at or number), "error" if severity == "E" else "warning", code))
    assert expected, f"{path.name} marks no expected problem"
    found = {(Path(p.file).name, p.line, p.severity, p.code) for p in validate_spec(path)}
    assert found == expected
