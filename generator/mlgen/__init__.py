"""mlgen: declare a Label Studio ML backend in backend.yaml, render a standalone service."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import load_spec, render_backend, validate_spec  # noqa: E402

__all__ = ["__version__", "load_spec", "render_backend", "validate_spec"]
