"""The generated service's own shared modules, loaded from the template for mlgen's checks.

Validation parses labeling configs and builds pipelines with the very code the service runs,
so a spec mlgen accepts is one the service can serve. The runtime package is imported under
the name `mlgen_runtime`, which keeps it apart from any `backend` package on sys.path.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from .resources import runtime_dir

PACKAGE = "mlgen_runtime"


def runtime_module(name: str) -> ModuleType:
    """A module of the runtime package, e.g. runtime_module("labelconfig")."""
    if PACKAGE not in sys.modules:
        init = runtime_dir() / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            PACKAGE, init, submodule_search_locations=[str(init.parent)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{PACKAGE}.{name}")
