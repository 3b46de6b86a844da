"""Command line: python -m backend serve | worker | train | versions | show | rollback | backfill |
import-export | autolabel."""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A stop at any moment ends the process at once, start-up included: as a container's PID 1,
# Python would otherwise ignore SIGTERM until the service installs its own handler (after
# loading scikit-learn and the model), and `docker stop` would wait out its timeout.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

# One BLAS thread unless the environment says otherwise, set before numpy loads: the models are
# small, so threads only add overhead (a reference training on 800 texts took 381 ms with two
# OpenBLAS threads and 36 ms with one) and compete with the request threads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


class AbsentModules(importlib.abc.MetaPathFinder):
    """Fail the import of modules known to be absent at once, instead of searching sys.path.

    scikit-learn's imputers try `from pandas import NA` on every call (sklearn.utils._missing),
    nine times per numeric feature and prediction; without pandas installed each failed import
    searched every sys.path entry, 1.5 ms of a 4.5 ms tabular /predict (diabetes sample).
    """

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, AbsentModules(frozenset(n for n in ("pandas",) if importlib.util.find_spec(n) is None)))

from .settings import SettingError, load_settings, mode_problem, spec_path  # noqa: E402
from .spec import SpecError, load_spec  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve the HTTP API, with the training worker unless --no-worker")
    serve.add_argument("--host", help="bind address (default: $HOST, else the spec's server.host)")
    serve.add_argument("--port", type=int, help="port (default: $PORT, else the spec's server.port)")
    serve.add_argument("--no-worker", action="store_true", help="leave training to `python -m backend worker`")
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)  # a web process of server.processes
    serve.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    sub.add_parser("worker", help="run only the training worker (several may run with REDIS_URL and DATABASE_URL)")
    train = sub.add_parser("train", help="train a project now, in this process")
    train.add_argument("project", help="Label Studio project id")
    versions = sub.add_parser("versions", help="list model versions with their status and metrics")
    versions.add_argument("project", nargs="?", help="only this project")
    show = sub.add_parser("show", help="show one model version in full")
    show.add_argument("version")
    rollback = sub.add_parser("rollback", help="serve an earlier kept version again")
    rollback.add_argument("project", help="Label Studio project id")
    rollback.add_argument("version", nargs="?", help="the version to serve (default: the one served before)")
    sub.add_parser("health", help="exit 0 if the local service answers /health (for container health checks)")
    add_sync_commands(sub)
    args = parser.parse_args(argv)

    try:
        spec = load_spec(spec_path())
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        settings = load_settings(spec, host=getattr(args, "host", None), port=getattr(args, "port", None))
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "health":  # light: no model, store or queue
        return run_health(settings)
    problem = mode_problem(settings) or state_problem(settings.model_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stdout)
    from .sync import SYNC_COMMANDS  # these load scikit-learn, which the health check does without
    from .wiring import create_service

    service = create_service(spec, settings)
    COMMANDS.update(SYNC_COMMANDS)
    if args.command in ("serve", "worker", "train"):
        log_training_to(service.settings.model_dir / "training.log")
    return COMMANDS[args.command](service, args)


def state_problem(path: Path) -> str | None:
    """Why the state (annotations, queue, models) cannot be kept in `path`, or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        uid = os.getuid()
        return (f"cannot write the state directory {path} as uid {uid} ({exc.strerror or exc}). Set MODEL_DIR "
                f"to a writable directory, or give this user the directory (for a bind mount into the "
                f"container: `sudo chown {uid} DIR` on the host).")
    return None


def add_sync_commands(sub: Any) -> None:
    backfill_cmd = sub.add_parser("backfill", help="pull a project's annotations from Label Studio "
                                  "(LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY)")
    backfill_cmd.add_argument("project", help="Label Studio project id")
    backfill_cmd.add_argument("--page-size", type=int, default=100)
    backfill_cmd.add_argument("--restart", action="store_true", help="start from the first page again")
    backfill_cmd.add_argument("--train", action="store_true", help="queue a training afterwards")
    export_cmd = sub.add_parser("import-export", help="record the annotations of a Label Studio JSON export")
    export_cmd.add_argument("file", type=Path)
    export_cmd.add_argument("--project", help="the project id, when the export does not carry it")
    label_cmd = sub.add_parser("autolabel", help="predict a project's unlabeled tasks in Label Studio")
    label_cmd.add_argument("project", help="Label Studio project id")
    label_cmd.add_argument("--batch-size", type=int, default=100, help="tasks per page and per upload")
    label_cmd.add_argument("--threshold", type=float,
                           help="create annotations for tasks scored at least this; predictions below it")
    label_cmd.add_argument("--limit", type=int, help="stop after this many tasks")
    label_cmd.add_argument("--rate", type=float, default=10.0, help="at most this many API requests a second")


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_training_to(path: Path) -> None:
    """Training logs go to the state directory too, where they outlive the console."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for name in ("backend.trainer", "backend.queue", "backend.tasks"):
        logging.getLogger(name).addHandler(handler)


def run_serve(service: Any, args: argparse.Namespace) -> int:
    from .server import serve

    serve(service, with_worker=not args.no_worker, listen_fd=args.listen_fd, parent=args.parent)
    return 0


def run_worker(service: Any, args: argparse.Namespace) -> int:
    from .server import work

    work(service)
    return 0


def run_train(service: Any, args: argparse.Namespace) -> int:
    from .trainer import train_project

    service.store.mark_pending(args.project, "cli", full=True)
    outcome = train_project(service, args.project, "cli")
    print(json.dumps(outcome, indent=2))
    return 0 if outcome["status"] == "succeeded" else 1


def run_versions(service: Any, args: argparse.Namespace) -> int:
    rows = service.store.versions(args.project)
    if not rows:
        print("no trained version yet")
        return 0
    print(f"{'project':8} {'version':40} {'status':11} {'kind':12} {'annotations':>11}  metric / reason")
    for row in rows:
        metric = row["metrics"].get("f1_macro", row["metrics"].get("prequential_accuracy", "-"))
        print(f"{row['project']:8} {row['version']:40} {row['status']:11} {row['kind']:12} "
              f"{row['n_annotations']:>11}  {metric}  {row['reason']}{'' if row['path'] else '  (file pruned)'}")
    return 0


def run_show(service: Any, args: argparse.Namespace) -> int:
    record = service.store.version(args.version)
    if record is None:
        print(f"error: no version {args.version}", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    return 0


def run_rollback(service: Any, args: argparse.Namespace) -> int:
    from .registry import ModelLoadError

    version = args.version
    if version is None:
        earlier = [v for v in service.store.versions(args.project) if v["status"] == "superseded" and v["path"]]
        if not earlier:
            print(f"error: project {args.project} has no earlier version kept", file=sys.stderr)
            return 1
        version = earlier[-1]["version"]
    try:
        service.registry.activate(args.project, version)
    except (LookupError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from .queue import enqueue_follow

    enqueue_follow(service, args.project)  # the worker points Label Studio at it, when it can
    print(f"project {args.project} now serves {version}")
    return 0


def run_health(settings: Any) -> int:
    import base64
    import urllib.request

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    request = urllib.request.Request(f"http://{host}:{settings.port}/health")
    if settings.basic_auth:
        token = base64.b64encode(":".join(settings.basic_auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return 0 if json.loads(response.read()).get("status") == "UP" else 1
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


COMMANDS: dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "serve": run_serve, "worker": run_worker, "train": run_train, "versions": run_versions,
    "show": run_show, "rollback": run_rollback,
}


if __name__ == "__main__":
    sys.exit(main())
