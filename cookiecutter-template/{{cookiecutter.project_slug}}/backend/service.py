"""The service's parts, wired once: spec, settings, store, model registry and queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from huey import SqliteHuey

from .labelconfig import find_target, parse_label_config
from .registry import Registry
from .settings import Settings, load_settings
from .spec import load_spec
from .store import Store
from .targets import Target, make_target


@dataclass
class Service:
    spec: dict[str, Any]
    settings: Settings
    store: Store
    registry: Registry
    target: Target
    huey: SqliteHuey
    train_task: Any = field(default=None)
    backfill_task: Any = field(default=None)


def create_service(
    spec: dict[str, Any] | None = None, settings: Settings | None = None, immediate: bool = False
) -> Service:
    """Build the service from spec.json and the environment (or from the given values).

    `immediate=True` runs trainings synchronously in the caller, for tests.
    """
    from .queue import register_tasks  # the queue's tasks need the service they run in

    spec = spec if spec is not None else load_spec()
    settings = settings or load_settings(spec)
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_path)
    huey = SqliteHuey(
        name=spec["name"], filename=str(settings.queue_path), results=False, immediate=immediate
    )
    service = Service(
        spec=spec,
        settings=settings,
        store=store,
        registry=Registry(store, settings.models_path, spec["name"]),
        target=make_target(find_target(parse_label_config(spec["labeling_config"]), spec.get("target")),
                           spec.get("prediction")),
        huey=huey,
    )
    service.train_task = register_tasks(service)
    return service
