from pathlib import Path

import pytest
from mlgen.loader import load_spec_file


def load(tmp_path: Path, text: str | bytes):
    path = tmp_path / "backend.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_spec_file(path)


def test_yaml_12_scalars(tmp_path):
    loaded, problems = load(tmp_path, "a: 1e-4\nb: yes\nc: true\nd: 10\ne: .5\nf: 'no'\n")
    assert loaded.data == {"a": 0.0001, "b": "yes", "c": True, "d": 10, "e": 0.5, "f": "no"}
    # plain yes/no/on/off mean a boolean to YAML 1.1 tools: flagged; quoted ones are plain strings
    assert [(p.line, p.column, p.severity, p.code) for p in problems] == [(2, 4, "warning", "yaml-boolean-like")]


def test_positions_of_keys_and_values(tmp_path):
    loaded, _ = load(tmp_path, "model:\n  class: X\n  params:\n    C: 3\nfeatures:\n  - field: t\n")
    assert loaded.position(("model", "params", "C")) == (4, 8)
    assert loaded.position(("model", "params", "C"), at_key=True) == (4, 5)
    assert loaded.position(("features", 0, "field")) == (6, 12)
    assert loaded.position(("model", "nope")) == (2, 3)  # nearest known parent


def test_duplicate_key_names_both_lines(tmp_path):
    loaded, problems = load(tmp_path, "a: 1\nb: 2\na: 3\n")
    assert loaded is None
    assert (problems[0].line, problems[0].code) == (3, "duplicate-key")
    assert "line 1" in problems[0].message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("- a\n- b\n", "not-a-mapping"),
        ("a:\n\tb: 1\n", "yaml-syntax"),
        ("a: [1, 2\n", "yaml-syntax"),
        (b"\x00\x01binary", "not-text"),
        (b"a: \xff\xfe\n", "not-utf8"),
        ("[" * 5000 + "]" * 5000, "too-deep"),
    ],
)
def test_bad_files_give_one_problem(tmp_path, text, code):
    loaded, problems = load(tmp_path, text)
    assert loaded is None and len(problems) == 1
    assert problems[0].code == code


def test_bom_is_accepted(tmp_path):
    loaded, problems = load(tmp_path, "\ufeffa: 1\n".encode())
    assert problems == [] and loaded.data == {"a": 1}


def test_huge_file(tmp_path):
    _, problems = load(tmp_path, "a: " + "x" * (2 * 1024 * 1024))
    assert problems[0].code == "too-large"


def test_missing_file(tmp_path):
    _, problems = load_spec_file(tmp_path / "nope.yaml")
    assert problems[0].code == "unreadable"
