"""Run-time settings: the spec's `server` section, overridden by the environment.

Embedded (the default), the queue and the state are SQLite files in MODEL_DIR. Distributed,
DATABASE_URL (PostgreSQL) holds the state and REDIS_URL the queue, both together, and MODELS_DIR
is a volume every web replica and worker shares.

The only module that reads environment variables (except __main__'s BLAS thread defaults,
which must be set before numpy loads).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_SIZE = 20_000  # predictions kept in memory by default
# How long a training's worker holds it without renewing (it renews every third of this): a
# worker killed during a training has it run again by another this long after.
TRAINING_LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    host: str
    port: int
    threads: int
    processes: int  # serving processes on this machine (SERVER_PROCESSES, else server.processes)
    max_body_bytes: int
    basic_auth: tuple[str, str] | None  # (user, password) when both are set
    webhook_secret: str | None
    label_studio_url: str  # LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, for backfill and autolabel
    label_studio_api_key: str
    log_level: str
    prediction_cache_size: int  # predictions kept in memory (PREDICTION_CACHE_SIZE; 0: none)
    models_dir: Path  # MODELS_DIR, else MODEL_DIR/models: shared by every process in the distributed mode
    models_dir_given: bool = False  # MODELS_DIR is set (the distributed mode needs it)
    database_url: str = ""  # DATABASE_URL: PostgreSQL for the state (distributed mode)
    redis_url: str = ""  # REDIS_URL: Redis for the queue (distributed mode)
    training_lease_seconds: float = TRAINING_LEASE_SECONDS

    @property
    def distributed(self) -> bool:
        """Whether the state and the queue are shared servers (several replicas and workers)."""
        return bool(self.database_url)

    @property
    def store_location(self) -> Path | str:
        return self.database_url or self.store_path

    @property
    def queue_path(self) -> Path:
        return self.model_dir / "queue.db"

    @property
    def store_path(self) -> Path:
        return self.model_dir / "backend.db"

    @property
    def can_reach_label_studio(self) -> bool:
        """Whether Label Studio's API is configured (annotations made before the backend was
        connected can then be pulled)."""
        return bool(self.label_studio_url and self.label_studio_api_key)


def spec_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where spec.json is: $BACKEND_SPEC, else the project's own."""
    return Path(environ.get("BACKEND_SPEC") or PROJECT_ROOT / "spec.json")


class SettingError(ValueError):
    """An environment variable holds what its setting cannot be; the message names it."""


def _number(environ: Mapping[str, str], name: str, default: Any, kind: type = int) -> Any:
    """The environment variable `name` as a number (`default` when unset or empty)."""
    text = environ.get(name) or None
    if text is None:
        return kind(default)
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise SettingError(f"{name} must be {what}, not {text!r}") from None


def load_settings(spec: dict[str, Any], environ: Mapping[str, str] = os.environ,
                  host: str | None = None, port: int | None = None) -> Settings:
    """The settings for a spec; `host` and `port` (from the command line) beat the environment."""
    server = spec["server"]
    auth = server["basic_auth"]
    user = environ.get(auth["user_env"], "")
    password = environ.get(auth["password_env"], "")
    return Settings(
        model_dir=Path(environ.get("MODEL_DIR", "./data")).resolve(),
        host=host or environ.get("HOST", server["host"]),
        port=port if port is not None else _number(environ, "PORT", server["port"]),
        threads=int(server["threads"]),
        processes=_number(environ, "SERVER_PROCESSES", server.get("processes", 1)),
        max_body_bytes=int(float(server["max_body_mb"]) * 1024 * 1024),
        basic_auth=(user, password) if user and password else None,
        webhook_secret=environ.get("WEBHOOK_SECRET") or None,
        label_studio_url=environ.get("LABEL_STUDIO_URL", ""),
        label_studio_api_key=environ.get("LABEL_STUDIO_API_KEY", ""),
        log_level=environ.get("LOG_LEVEL", "INFO").upper(),
        prediction_cache_size=_number(environ, "PREDICTION_CACHE_SIZE", CACHE_SIZE),
        models_dir=Path(environ.get("MODELS_DIR") or Path(environ.get("MODEL_DIR", "./data")) / "models").resolve(),
        models_dir_given=bool(environ.get("MODELS_DIR")),
        database_url=environ.get("DATABASE_URL", ""),
        redis_url=environ.get("REDIS_URL", ""),
        training_lease_seconds=_number(environ, "TRAINING_LEASE_SECONDS", TRAINING_LEASE_SECONDS, float),
    )


def mode_problem(settings: Settings) -> str | None:
    """Why the settings cannot run (a half-configured distributed mode), or None."""
    if bool(settings.database_url) != bool(settings.redis_url):
        given, missing = ("DATABASE_URL", "REDIS_URL") if settings.database_url else ("REDIS_URL", "DATABASE_URL")
        return (f"{given} is set but {missing} is not: the distributed mode needs both (the state in "
                f"PostgreSQL and the queue in Redis); unset {given} for the embedded mode")
    if settings.database_url and not settings.database_url.startswith(("postgresql://", "postgres://")):
        return "DATABASE_URL must be a PostgreSQL URL: postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    if settings.redis_url and not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        return "REDIS_URL must be a Redis URL: redis://HOST:PORT/0"
    if settings.distributed and not settings.models_dir_given:
        return ("the distributed mode needs MODELS_DIR: a folder every web replica and worker shares (a "
                "volume), where workers write the model files that replicas load")
    if not 1 <= settings.processes <= 64:
        return "SERVER_PROCESSES must be a whole number from 1 to 64"
    if not settings.training_lease_seconds > 0:
        return "TRAINING_LEASE_SECONDS must be a positive number of seconds"
    return None
