"""Write the generated project: cookiecutter for names and prose, then spec.json as data.

No string from the spec reaches a Jinja template as template source: cookiecutter renders every
plain context value as a template, so user text travels only in underscore keys, which it
passes through untouched, and the spec itself is written as JSON by this module.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

from .errors import OutputExistsError
from .resources import template_dir
from .runtime import runtime_module


def render_project(spec: dict[str, Any], output: Path, force: bool = False,
                   files: dict[str, str] | None = None) -> Path:
    """Render `spec` (normalized) into the directory `output`, with `files` (relative path ->
    text, such as the user's estimator module) added; returns it."""
    output = output.resolve()
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not force:
        raise OutputExistsError(f"{output} exists and is not empty; pass --force to write into it")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".mlgen-") as scratch:
        rendered = Path(
            cookiecutter(
                str(template_dir()),
                no_input=True,
                output_dir=scratch,
                extra_context={"project_slug": spec["name"], **_context(spec)},
                accept_hooks=False,
            )
        )
        for junk in [*rendered.rglob("__pycache__"), *rendered.rglob(".pytest_cache")]:
            shutil.rmtree(junk, ignore_errors=True)
        (rendered / "spec.json").write_text(spec_json(spec), encoding="utf-8")
        for relative, text in (files or {}).items():
            (rendered / relative).parent.mkdir(parents=True, exist_ok=True)
            (rendered / relative).write_text(text, encoding="utf-8")
        shutil.copytree(rendered, output, dirs_exist_ok=True)
    return output


def spec_json(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _context(spec: dict[str, Any]) -> dict[str, Any]:
    """What the README and Docker files show. Underscore keys: cookiecutter never renders them."""
    labelconfig = runtime_module("labelconfig")
    control = labelconfig.find_target(labelconfig.parse_label_config(spec["labeling_config"]), spec["target"])
    target = runtime_module("targets").make_target(control, spec.get("prediction"))
    custom = ":" in spec["model"]["class"]
    images = [f for f in spec["features"] if f["type"] == "image"]
    return {
        "_summary": {
            "description": spec.get("description", ""),
            "target": target.name,
            "prediction": _prediction(target),
            "labels": list(target.labels),
            "fields": [f"{f['field']} ({f['type']})" for f in spec["features"]],
            "model_class": spec["model"]["class"],
            "estimator": (f"its own estimator `{spec['model']['class']}` (custom/)" if custom
                          else f"scikit-learn's `{spec['model']['class'].rsplit('.', 1)[-1]}`"),
            "custom_estimator": custom,
            "images": bool(images),  # requirements.txt: Pillow
            "hog": any(f.get("representation") == "hog" for f in images),  # requirements.txt: scikit-image
            "score_meaning": target.score_meaning,
            "metric": spec["evaluation"]["metric"],
            "port": spec["server"]["port"],
            "mlgen_version": spec["mlgen_version"],
        }
    }


def _prediction(target: Any) -> str:
    """What the backend predicts, in words: 'the `topic` choice (a, b)' and the like."""
    labels = ", ".join(target.labels)
    if target.kind == "single_choice":
        return f"the `{target.name}` choice ({labels})"
    if target.kind == "multiple_choice":
        return f"every `{target.name}` choice that applies ({labels})"
    if target.kind == "spans":
        return f"`{target.name}` spans on the text, one per entity ({labels})"
    if target.kind == "rating":
        return f"the `{target.name}` rating (1 to {target.high:g} stars)"
    bounds = [f"from {target.low:g}" if target.low is not None else "", f"to {target.high:g}" if target.high is not None else ""]
    span = " ".join(b for b in bounds if b)
    return f"the `{target.name}` number" + (f" ({span})" if span else "")
