"""The spec reference page, generated from the JSON Schema (docs/spec-reference.md)."""

from __future__ import annotations

import json
from typing import Any

from .resources import load_schema


def spec_reference() -> str:
    schema = load_schema()
    lines = [
        "# backend.yaml reference",
        "",
        "<!-- Generated from schemas/backend.schema.json by `mlgen schema --markdown`; do not edit. -->",
        "",
        schema["description"],
        "",
    ]
    _section(lines, schema, schema, "")
    return "\n".join(lines).rstrip() + "\n"


def _section(lines: list[str], schema: dict[str, Any], node: dict[str, Any], prefix: str) -> None:
    required = set(node.get("required", []))
    rows = []
    nested = []
    for key, prop in node.get("properties", {}).items():
        prop = _resolve(schema, prop)
        path = f"{prefix}{key}"
        items = _resolve(schema, prop["items"]) if prop.get("type") == "array" and isinstance(prop.get("items"), dict) else None
        rows.append((path, _type(prop, items), "yes" if key in required else "", _default(prop), prop.get("description", "")))
        if prop.get("type") == "object" and "properties" in prop:
            nested.append((path, prop))
        elif items is not None and items.get("type") == "object":
            nested.append((f"{path}[]", items))
    lines += ["| key | type | required | default | description |", "|---|---|---|---|---|"]
    for path, kind, req, default, description in rows:
        cell = description.replace("|", "\\|")
        lines.append(f"| `{path}` | {kind} | {req} | {default} | {cell} |")
    lines.append("")
    for path, prop in nested:
        lines += [f"## `{path}`", "", prop.get("description", ""), ""]
        _section(lines, schema, prop, f"{path}.")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return schema["definitions"][ref.rsplit("/", 1)[-1]] if ref else node


def _type(prop: dict[str, Any], items: dict[str, Any] | None) -> str:
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if items is not None:
        inner = items.get("type", "any")
        kind = f"list of {'mappings' if inner == 'object' else inner}"
    return kind


def _default(prop: dict[str, Any]) -> str:
    if "default" in prop and prop["default"] != {}:
        return f"`{json.dumps(prop['default'])}`"
    if "examples" in prop:
        return f"e.g. `{json.dumps(prop['examples'][0])}`"
    return ""
