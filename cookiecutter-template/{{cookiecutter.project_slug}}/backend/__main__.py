"""Command line: python -m backend serve | worker | train | versions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

# One BLAS thread unless the environment says otherwise, set before numpy loads: the models are
# small, so threads only add overhead (a reference training on 800 texts took 381 ms with two
# OpenBLAS threads and 36 ms with one) and compete with the request threads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from .spec import SpecError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the HTTP API, with the training worker unless --no-worker")
    serve.add_argument("--host", help="bind address (default: $HOST, else the spec's server.host)")
    serve.add_argument("--port", type=int, help="port (default: $PORT, else the spec's server.port)")
    serve.add_argument("--no-worker", action="store_true", help="leave training to `python -m backend worker`")
    sub.add_parser("worker", help="run only the training worker")
    train = sub.add_parser("train", help="train a project now, in this process")
    train.add_argument("project", help="Label Studio project id")
    versions = sub.add_parser("versions", help="list trained model versions")
    versions.add_argument("project", nargs="?", help="only this project")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    if args.command == "serve":
        if args.host:
            os.environ["HOST"] = args.host
        if args.port:
            os.environ["PORT"] = str(args.port)
    try:
        from .service import create_service

        service = create_service()
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if args.command == "serve":
        from .server import serve as run_server

        run_server(service, with_worker=not args.no_worker)
    elif args.command == "worker":
        from .server import work

        work(service)
    elif args.command == "train":
        from .trainer import train_project

        service.store.mark_pending(args.project, "cli")
        outcome = train_project(service, args.project, "cli")
        print(json.dumps(outcome, indent=2))
        return 0 if outcome["status"] == "succeeded" else 1
    else:
        print(json.dumps(service.store.versions(args.project), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
