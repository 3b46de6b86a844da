"""The service's parts: spec, settings, store, model registry, target, queue and image loader
(wired together by wiring.create_service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from huey import Huey

from .cache import PredictionCache
from .config import Config
from .leases import process_holder
from .registry import Registry
from .settings import Settings
from .store import Store
from .targets import Target

if TYPE_CHECKING:
    from .images import ImageLoader


@dataclass
class Service:
    spec: dict[str, Any]  # spec.json as read
    config: Config  # the same, typed: what the runtime reads
    settings: Settings
    store: Store
    registry: Registry
    target: Target
    huey: Huey  # SqliteHuey embedded, RedisHuey distributed
    predictions: PredictionCache | None = None  # None when PREDICTION_CACHE_SIZE is 0
    images: ImageLoader | None = None  # reads the tasks' images; None when the spec has no image feature
    tasks: Tasks | None = None  # registered on `huey` by tasks.register_tasks, which needs the service
    holder: str = field(default_factory=process_holder)  # this process, as the holder of training leases
    unavailable: tuple[type[BaseException], ...] = ()  # errors meaning PostgreSQL or Redis cannot be reached


@dataclass(frozen=True)
class Tasks:
    """The service's Huey tasks (TaskWrappers: call `.s(...)` for a task to enqueue)."""

    train: Any  # (project, trigger)
    backfill: Any  # (project): backfill, then train
    first_contact: Any  # (project, url, api_key): import what Label Studio has, then train
    follow: Any  # (project): make the served version Label Studio's prediction source
    scheduled: Any = None  # (): the full retraining of training.schedule, when the spec has one
