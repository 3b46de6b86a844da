"""The service's parts: spec, settings, store, model registry, target and queue (wired
together by wiring.create_service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from huey import SqliteHuey

from .cache import PredictionCache
from .config import Config
from .registry import Registry
from .settings import Settings
from .store import Store
from .targets import Target


@dataclass
class Service:
    spec: dict[str, Any]  # spec.json as read
    config: Config  # the same, typed: what the runtime reads
    settings: Settings
    store: Store
    registry: Registry
    target: Target
    huey: SqliteHuey
    predictions: PredictionCache | None = None  # None when PREDICTION_CACHE_SIZE is 0
    train_task: Any = field(default=None)  # the Huey tasks, registered on `huey` by tasks.py
    backfill_task: Any = field(default=None)
    first_contact_task: Any = field(default=None)
    follow_task: Any = field(default=None)
