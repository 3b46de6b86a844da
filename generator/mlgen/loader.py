"""Read backend.yaml into plain data plus the source position of every node.

YAML 1.2 scalars, as editors read them: `1e-4` is a number and only true/false are booleans
(`yes`, `no`, `on`, `off` stay strings, which the schema then rejects where a boolean is due).
A key given twice is an error, never a silent overwrite. Every failure is a Problem.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .problems import Problem

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50  # a spec nests 5 levels deep; far deeper input is refused before anything recurses
JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based, of the value
    column: int
    key_line: int  # of the key that holds the value (the value itself for list items)
    key_column: int
    style: str | None = None  # a scalar's YAML style: None (plain), "|", ">", "'" or '"'


@dataclass
class LoadedSpec:
    path: Path
    data: Any
    positions: dict[JsonPath, Position]
    lines: list[str]  # the source, for mapping positions inside multi-line values

    def position(self, path: JsonPath, at_key: bool = False) -> tuple[int, int]:
        """The closest known position of a path: the node itself, else its nearest parent."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found is not None:
                return (found.key_line, found.key_column) if at_key else (found.line, found.column)
        return 1, 1


class _DuplicateKeyError(yaml.MarkedYAMLError):
    pass


# libyaml's parser when PyYAML has it (about five times faster); both keep node positions.
_SafeLoader: Any = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


class _Loader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe loader with YAML 1.2 booleans and floats, and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a list or a mapping", key_node.start_mark)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise _DuplicateKeyError(
                    problem=f"duplicate key '{key}' (first given on line {first})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def load_spec_file(path: str | Path) -> tuple[LoadedSpec | None, list[Problem]]:
    """Load a spec file. Returns the loaded spec (None when unreadable) and any problems."""
    path = Path(path)
    name = str(path)

    def problem(line: int, column: int, code: str, message: str, hint: str | None = None) -> list[Problem]:
        return [Problem(name, line, column, "error", code, message, hint)]

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, problem(1, 1, "unreadable", f"cannot read the spec: {exc.strerror or exc}")
    if len(raw) > MAX_BYTES:
        return None, problem(1, 1, "too-large", f"the spec is {len(raw)} bytes; specs are limited to {MAX_BYTES}")
    if b"\0" in raw:
        return None, problem(1, 1, "not-text", "the spec is a binary file, not YAML")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, problem(1, 1, "not-utf8", f"the spec is not UTF-8 text ({exc.reason} at byte {exc.start})")
    return load_spec_text(text, path)


def load_spec_text(text: str, path: Path) -> tuple[LoadedSpec | None, list[Problem]]:
    name = str(path)
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        deepest = _too_deep(node) if node is not None else None
        data = loader.construct_document(node) if node is not None and deepest is None else None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = chr(exc.character) if isinstance(exc.character, int) else text[exc.position:exc.position + 1]
        return None, [Problem(name, line, column, "error", "yaml-syntax",
                              f"invalid YAML: character {character!r} is not allowed in YAML")]
    except _DuplicateKeyError as exc:
        mark = exc.problem_mark
        return None, [Problem(name, mark.line + 1, mark.column + 1, "error", "duplicate-key", str(exc.problem))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(filter(None, [exc.context, exc.problem]))
        hint = "indent with spaces; YAML does not allow tabs" if "\t" in message or "tab" in message else None
        return None, [Problem(name, line, column, "error", "yaml-syntax", f"invalid YAML: {message}", hint)]
    except yaml.YAMLError as exc:
        return None, [Problem(name, 1, 1, "error", "yaml-syntax", f"invalid YAML: {exc}")]
    except RecursionError:
        return None, [Problem(name, 1, 1, "error", "too-deep", "the spec is nested too deeply to read")]
    finally:
        if loader is not None:
            loader.dispose()
    if deepest is not None:
        return None, [Problem(name, deepest.start_mark.line + 1, deepest.start_mark.column + 1, "error", "too-deep",
                              f"the spec nests more than {MAX_DEPTH} levels deep")]
    if data is None:
        return None, [Problem(name, 1, 1, "error", "empty", "the spec is empty", "start from `mlgen init --from-config labeling_config.xml`, or copy a sample")]
    if not isinstance(data, dict):
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return None, [Problem(name, line, column, "error", "not-a-mapping",
                              f"the spec must be a mapping of keys to values, not a {type(data).__name__}")]
    positions: dict[JsonPath, Position] = {}
    _index(node, (), node, positions)
    return LoadedSpec(path, data, positions, text.splitlines()), _boolean_like(node, name)


def _index(node: yaml.Node, path: JsonPath, key_node: yaml.Node, out: dict[JsonPath, Position]) -> None:
    out[path] = Position(
        node.start_mark.line + 1, node.start_mark.column + 1,
        key_node.start_mark.line + 1, key_node.start_mark.column + 1,
        (node.style or None) if isinstance(node, yaml.ScalarNode) else None,
    )
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                _index(v, (*path, k.value), k, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), item, out)


YAML11_BOOLEANS = frozenset({"yes", "no", "on", "off"})


def _boolean_like(node: yaml.Node, name: str) -> list[Problem]:
    """Warn about plain yes/no/on/off: YAML 1.2 (editors, mlgen) reads a string, YAML 1.1
    (PyYAML and many other tools) a boolean, so the spec means different things to each."""
    found: list[Problem] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            if not current.style and current.value.lower() in YAML11_BOOLEANS:
                found.append(Problem(
                    name, current.start_mark.line + 1, current.start_mark.column + 1, "warning",
                    "yaml-boolean-like", f"'{current.value}' is a string in YAML 1.2 but a boolean in YAML 1.1",
                    "write true or false for a boolean, or quote the string",
                ))
        elif isinstance(current, yaml.MappingNode):
            stack.extend(n for pair in current.value for n in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return found


def _too_deep(root: yaml.Node) -> yaml.Node | None:
    """The first node nested deeper than MAX_DEPTH, found without recursion."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, depth + 1) for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, depth + 1) for n in node.value)
    return None
