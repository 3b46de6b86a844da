"""Build the service: its parts from spec.json and the environment, and its background tasks."""

from __future__ import annotations

from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.exceptions import ConfigurationError

from .cache import PredictionCache
from .config import Config
from .labelconfig import find_target, parse_label_config
from .model import trusted_modules
from .registry import Registry
from .service import Service
from .settings import Settings, load_settings, spec_path
from .spec import load_spec
from .store import Store
from .sync import files_client_for
from .targets import make_target
from .tasks import register_tasks


def create_service(
    spec: dict[str, Any] | None = None, settings: Settings | None = None, immediate: bool = False
) -> Service:
    """Build the service from spec.json and the environment (or from the given values).

    `immediate=True` runs trainings synchronously in the caller, for tests.
    """
    spec = spec if spec is not None else load_spec(spec_path())
    settings = settings or load_settings(spec)
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_location)
    huey = make_queue(spec["name"], settings, immediate)
    config = Config.from_spec(spec)
    service = Service(
        spec=spec,
        config=config,
        settings=settings,
        store=store,
        registry=Registry(store, settings.models_dir, config.name, trusted_modules(config)),
        target=make_target(find_target(parse_label_config(config.labeling_config), config.target),
                           dict(config.prediction)),
        huey=huey,
        predictions=PredictionCache(settings.prediction_cache_size) if settings.prediction_cache_size else None,
        unavailable=unreachable_errors(settings),
    )
    service.images = image_loader(service)
    service.tasks = register_tasks(service)
    return service


def make_queue(name: str, settings: Settings, immediate: bool) -> Huey:
    """Huey on SQLite in MODEL_DIR (embedded), or on the Redis server at REDIS_URL."""
    if not settings.redis_url:
        return SqliteHuey(name=name, filename=str(settings.queue_path), results=False, immediate=immediate)
    try:
        return RedisHuey(name=name, url=settings.redis_url, results=False, immediate=immediate)
    except ConfigurationError:  # redis-py is not installed
        raise RuntimeError("REDIS_URL is set, but the redis package is not installed: "
                           "pip install -r requirements-scale.txt") from None


def unreachable_errors(settings: Settings) -> tuple[type[BaseException], ...]:
    """The exceptions that mean a shared server (PostgreSQL, Redis) cannot be reached: a request
    meeting one gets a 503 to retry, not a 500. None in the embedded mode."""
    if not settings.distributed:
        return ()
    import psycopg
    import redis

    return (psycopg.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def image_loader(service: Service) -> Any:
    """The service's images.ImageLoader when the spec has an image feature, else None: a text or
    tabular project never imports Pillow."""
    if not any(feature["type"] == "image" for feature in service.config.features):
        return None
    from .images import ImageLoader  # Pillow: only for projects that have images

    return ImageLoader(service.config.features, service.settings.model_dir / "images",
                       client_for=lambda project: files_client_for(service, project))
