"""The user's own estimator: `model.class: "module:Class"`, a class in a Python file beside the
spec (`model.file`, default `module.py`). mlgen validate imports the file, which runs it, to
check the class; mlgen render copies it into the project's `custom/` package, the one place
besides scikit-learn whose types the service's model files may hold."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "custom"  # the generated project's package of user estimators (model.CUSTOM_PACKAGE)


def is_custom(class_path: str) -> bool:
    return ":" in class_path


def source_file(model: dict[str, Any], spec_path: Path) -> Path:
    module = model["class"].partition(":")[0]
    return spec_path.parent / model.get("file", f"{module}.py")


def load_class(model: dict[str, Any], spec_path: Path) -> tuple[type | None, str, str | None]:
    """(the class, "", None), or (None, what is wrong, where: "file" or "class")."""
    module_name, _, class_name = model["class"].partition(":")
    path = source_file(model, spec_path)
    if not path.is_file():
        return None, f"no estimator file {path}", "file"
    try:
        module = _import(f"mlgen_custom_{module_name}", path)
    except Exception as exc:  # the user's code may raise anything while it loads
        return None, f"cannot import {path.name}: {type(exc).__name__}: {exc}", "file"
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        found = sorted(name for name, value in vars(module).items()
                       if inspect.isclass(value) and value.__module__ == module.__name__)
        return None, f"{path.name} defines no class {class_name} (classes: {', '.join(found) or 'none'})", "class"
    return cls, "", None


def missing_methods(cls: type, params: dict[str, Any], estimator_type: str) -> tuple[list[str], str | None]:
    """The methods the target's kind needs that an instance lacks, or why it cannot be made."""
    try:
        instance = cls(**params)
    except Exception as exc:  # the user's constructor
        return [], f"{cls.__name__}(**params) raised {type(exc).__name__}: {exc}"
    needed = ["fit", "predict", "get_params"] + (["predict_proba"] if estimator_type == "classifier" else [])
    return [name for name in needed if not callable(getattr(instance, name, None))], None


def project_files(spec: dict[str, Any], spec_path: Path) -> dict[str, str]:
    """Files to write into the rendered project: the estimator's module, if the spec has one."""
    if not is_custom(spec["model"]["class"]):
        return {}
    module = spec["model"]["class"].partition(":")[0]
    source = source_file(spec["model"], spec_path).read_text(encoding="utf-8")
    return {f"{PACKAGE}/__init__.py": '"""The estimators of this project\'s own, copied by mlgen render."""\n',
            f"{PACKAGE}/{module}.py": source}


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
