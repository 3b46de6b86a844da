"""Turn a valid spec into spec.json: every default filled in, every reference resolved."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from . import __version__, custom
from .checks import labeling_config_text
from .estimators import estimator_path, find_estimator
from .loader import LoadedSpec
from .resources import load_schema
from .runtime import runtime_module


def normalize(loaded: LoadedSpec) -> dict[str, Any]:
    """The spec as the generated service reads it. Assumes the spec passed validation."""
    schema = load_schema()
    spec = copy.deepcopy(loaded.data)
    for key in ("training", "evaluation", "promotion", "active_learning", "prediction", "server"):
        spec[key] = _with_defaults(spec.get(key, {}), _resolve(schema, schema["properties"][key]), schema)
    spec.setdefault("description", "")
    feature_schema = schema["definitions"]["feature"]
    spec["features"] = [_with_phrases(_feature_defaults(f, feature_schema), loaded.path) for f in spec["features"]]
    spec["labeling_config"] = labeling_config_text(spec, loaded.path)
    labelconfig = runtime_module("labelconfig")
    control = labelconfig.find_target(labelconfig.parse_label_config(spec["labeling_config"]), spec.get("target"))
    kind = runtime_module("targets").kind_of(control)
    spec["target"] = control.name
    spec["evaluation"].setdefault("metric", kind.default_metric)  # the schema's default depends on the kind
    params = dict(spec["model"].get("params") or {})
    if custom.is_custom(spec["model"]["class"]):  # copied to custom/<module>.py by render
        spec["model"] = {"class": spec["model"]["class"], "params": params}
    else:
        cls, _ = find_estimator(spec["model"]["class"], kind.estimator_type)
        spec["model"] = {"class": estimator_path(cls), "params": params}
    spec["mlgen_version"] = __version__
    return spec


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return schema["definitions"][ref.rsplit("/", 1)[-1]]
    return node


def _with_defaults(value: dict[str, Any], node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    for key, prop in node.get("properties", {}).items():
        prop = _resolve(schema, prop)
        if key not in out and "default" in prop:
            out[key] = copy.deepcopy(prop["default"])
        if prop.get("type") == "object" and isinstance(out.get(key), dict):
            out[key] = _with_defaults(out[key], prop, schema)
    return out


def _with_phrases(feature: dict[str, Any], spec_path: Path) -> dict[str, Any]:
    """A tokens feature's gazetteers as lists of phrases: a file one names is read (one phrase a
    line, blank lines and lines starting with # left out), so that the project holds them as data."""
    gazetteers = feature.get("gazetteers")
    if not gazetteers:
        return feature
    return {**feature, "gazetteers": {name: gazetteer_phrases(value, spec_path)
                                      for name, value in sorted(gazetteers.items())}}


def gazetteer_phrases(value: str | list[str], spec_path: Path) -> list[str]:
    """The phrases of a gazetteer given inline or as a file relative to the spec."""
    if isinstance(value, list):
        return sorted(set(value))
    lines = (spec_path.parent / value).read_text(encoding="utf-8").splitlines()
    return sorted({line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")})


def _feature_defaults(feature: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A feature's defaults, only for the options its type takes."""
    allowed = next(
        rule["then"]["propertyNames"]["enum"]
        for rule in node["allOf"]
        if rule["if"]["properties"]["type"]["const"] == feature["type"]
    )
    out = dict(feature)
    for key in allowed:
        if key not in out and "default" in node["properties"][key]:
            out[key] = copy.deepcopy(node["properties"][key]["default"])
    return out
