"""Run-time settings: the spec's `server` section, overridden by the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    host: str
    port: int
    threads: int
    max_body_bytes: int
    basic_auth: tuple[str, str] | None  # (user, password) when both are set
    webhook_secret: str | None

    @property
    def queue_path(self) -> Path:
        return self.model_dir / "queue.db"

    @property
    def store_path(self) -> Path:
        return self.model_dir / "backend.db"

    @property
    def models_path(self) -> Path:
        return self.model_dir / "models"


def load_settings(spec: dict[str, Any], environ: Mapping[str, str] = os.environ) -> Settings:
    server = spec.get("server", {})
    auth = server.get("basic_auth", {})
    user = environ.get(auth.get("user_env", "BASIC_AUTH_USER"), "")
    password = environ.get(auth.get("password_env", "BASIC_AUTH_PASS"), "")
    return Settings(
        model_dir=Path(environ.get("MODEL_DIR", "./data")).resolve(),
        host=environ.get("HOST", server.get("host", "0.0.0.0")),
        port=int(environ.get("PORT", server.get("port", 9090))),
        threads=int(server.get("threads", 8)),
        max_body_bytes=int(float(server.get("max_body_mb", 100)) * 1024 * 1024),
        basic_auth=(user, password) if user and password else None,
        webhook_secret=environ.get("WEBHOOK_SECRET") or None,
    )
