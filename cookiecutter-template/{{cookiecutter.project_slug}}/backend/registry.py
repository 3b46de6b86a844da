"""Model artifacts and versions: save atomically, load safely, serve the current one.

Models are written with skops, whose loader builds only the types it is told to trust, so a
model file cannot run code when loaded (a pickle can). Which version a project serves is read
from the store at most every SERVED_VERSION_SECONDS per project: a version published or
activated in this process is served at the next request, one published by another process (a
separate worker, another replica) within that time. (A read per request cost a sixth of a
one-task /predict under load: the SQLite call releases the GIL, and taking it back waits.)
"""

from __future__ import annotations

import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy
import scipy
import sklearn
import skops
import skops.io

from .fastpath import compile_model
from .garbage import freeze_loaded
from .store import LeaseLost, Store

# Types a model file may contain: scikit-learn, its numeric stack, and this package.
TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.", f"{__package__}.")
SERVED_VERSION_SECONDS = 1.0


class ModelLoadError(RuntimeError):
    """A model artifact cannot be loaded safely."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    model: Any
    classes: tuple[str, ...]  # the labels it was trained to predict (none for a number)
    fast: Any = None  # an exact, faster stand-in for predictions (fastpath.py), when it has one


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
    }


def untrained_version(name: str) -> str:
    """The model_version reported before a project's first training."""
    return f"{name}-untrained"


class Registry:
    def __init__(self, store: Store, models_path: Path, name: str, trusted: tuple[str, ...] = ()) -> None:
        self.store = store
        self.trusted = TRUSTED_MODULES + trusted  # trusted: the project's own estimator module
        self.models_path = models_path
        self.name = name
        self._cache: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self._served: dict[str, tuple[str | None, float, int]] = {}  # project -> (version, until, store.versions_changed)

    def served_version(self, project: str) -> str:
        return self._served_version(project) or untrained_version(self.name)

    def _served_version(self, project: str, fresh: bool = False) -> str | None:
        """The version the project serves (None before its first training), as read from the
        store at most SERVED_VERSION_SECONDS ago, and after this process last changed one."""
        now = time.monotonic()
        known = self._served.get(project)
        if not fresh and known is not None and known[1] > now and known[2] == self.store.versions_changed:
            return known[0]
        changed = self.store.versions_changed
        version = self.store.served_version(project)
        self._served[project] = (version, now + SERVED_VERSION_SECONDS, changed)
        return version

    def current(self, project: str, fresh: bool = False) -> LoadedModel | None:
        """The model the project serves now, or None before its first training (`fresh`: read
        the served version from the store now, as a training does)."""
        version = self._served_version(project, fresh)
        if version is None:
            return None
        cached = self._cache.get(project)
        if cached is not None and cached.version == version:
            return cached
        with self._lock:
            cached = self._cache.get(project)
            if cached is None or cached.version != version:
                cached = self._cache[project] = self._load(version)
                freeze_loaded()  # the model joins what the garbage collector does not walk
        return cached

    def all_compiled(self) -> bool:
        """Whether this process has loaded a model and every one it holds has the fast path."""
        held = list(self._cache.values())
        return bool(held) and all(loaded.fast is not None for loaded in held)

    def save(self, project: str, model: Any, record: dict[str, Any], serve: bool,
             claimed: dict[str, Any], keep: int, holder: str | None = None) -> str:
        """Write a trained model, record it as the project's next version (served if `serve`),
        and prune model files beyond the newest `keep`. Returns the version. With `holder`, the
        training's worker: if it lost the training (store.LeaseLost), its file goes again."""
        seq = self.store.next_seq(project)
        created = datetime.now(UTC)
        version = f"{self.name}-v{seq}-{created:%Y%m%d%H%M%S}"
        # another project's, trained in the same second (workers sharing PostgreSQL may do so at once)
        if self.store.engine != "sqlite" or self.store.version(version) is not None:
            version = f"{self.name}-p{_safe(project)}-v{seq}-{created:%Y%m%d%H%M%S}"
        path = self.models_path / _safe(project) / f"{version}.skops"
        _write_atomically(path, skops.io.dumps(model))
        published = {
            **record,
            "version": version,
            "project": project,
            "seq": seq,
            "created_at": created.isoformat(timespec="seconds"),
            "path": str(path.relative_to(self.models_path)),
            "classes": list(record.get("classes", ())),
            "libraries": library_versions(),
        }
        try:
            self.store.publish_version(published, serve=serve, claimed=claimed, holder=holder)
        except LeaseLost:
            path.unlink(missing_ok=True)
            raise
        for old in self.store.prunable(project, keep):
            (self.models_path / old["path"]).unlink(missing_ok=True)
            self.store.forget_file(old["version"])
        return version

    def activate(self, project: str, version: str) -> None:
        """Serve `version` for the project (a rollback), once its model is known to load."""
        record = self.store.version(version)
        if record is None or record["project"] != project:
            raise LookupError(f"project {project} has no version {version}")
        if record["path"] is None:
            raise LookupError(f"the model file of {version} was pruned; it cannot be served again")
        self._load(version)
        self.store.activate(project, version)

    def _load(self, version: str) -> LoadedModel:
        record = self.store.version(version)
        if record is None:
            raise ModelLoadError(f"model version {version} is not in the registry")
        if record["path"] is None:
            raise ModelLoadError(f"the model file of {version} was pruned")
        made_with = _minor(record["libraries"].get("scikit-learn", ""))
        if made_with != _minor(sklearn.__version__):
            raise ModelLoadError(
                f"model {version} was made with scikit-learn {made_with}, this service runs "
                f"{sklearn.__version__}: start a training to rebuild it"
            )
        path = self.models_path / record["path"]
        try:
            untrusted = skops.io.get_untrusted_types(file=path)
            foreign = [t for t in untrusted if not t.startswith(self.trusted)]
            if foreign:
                raise ModelLoadError(f"model {version} contains untrusted types: {', '.join(foreign)}")
            model = skops.io.load(path, trusted=untrusted)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load model {version}: {exc}") from None
        return LoadedModel(version, model, tuple(record["classes"]), compile_model(model))


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _safe(project: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in project) or "_"


def _write_atomically(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".skops")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

