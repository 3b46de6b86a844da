"""Run a rendered backend in the distributed mode on this machine, for a manual check with a real
Label Studio (tests/manual/ls_e2e.py): PostgreSQL and Redis of their own, WEB web replicas
(`serve --no-worker`) and WORKERS workers sharing them and one models folder, and HAProxy in
front. It prints the balancer's URL (a free port), then runs until Ctrl-C (or SIGTERM), and stops everything.

    mlgen render samples/topics/backend.yaml -o /tmp/ls-topics
    python3 -m venv /tmp/ls-topics/.venv
    /tmp/ls-topics/.venv/bin/pip install -r /tmp/ls-topics/requirements.txt -r /tmp/ls-topics/requirements-scale.txt
    .venv/bin/python tests/manual/scale_out_stack.py /tmp/ls-topics --python /tmp/ls-topics/.venv/bin/python \
        --web 2 --workers 2
    python tests/manual/ls_e2e.py --sample samples/topics --backend-url BALANCER_URL \
        --spec /tmp/ls-topics/spec.json --backend-log /tmp/ls-topics/stack/web-0.log

It needs Debian's postgresql, redis-server and haproxy, and the repository's test venv (psycopg).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engines import balancer, free_port, running_postgres, running_redis  # noqa: E402


def wait_for_health(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a web replica did not start; see {log}") from None
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path, help="a rendered backend's folder")
    parser.add_argument("--python", type=Path, required=True, help="a Python with its requirements and requirements-scale")
    parser.add_argument("--web", type=int, default=2, help="web replicas")
    parser.add_argument("--workers", type=int, default=2, help="workers")
    args = parser.parse_args()
    stack = args.project.resolve() / "stack"
    stack.mkdir(exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    processes: list[subprocess.Popen] = []
    with contextlib.ExitStack() as resources:
        database = resources.enter_context(running_postgres())
        queue = resources.enter_context(running_redis())
        environ = {**os.environ, "DATABASE_URL": database, "REDIS_URL": queue, "MODELS_DIR": str(stack / "models")}
        resources.callback(lambda: [p.terminate() for p in processes] and [p.wait(20) for p in processes])
        webs = []
        for role, count in (("web", args.web), ("worker", args.workers)):
            for n in range(count):
                port = free_port()
                command = ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)] if role == "web" \
                    else ["worker"]
                log = stack / f"{role}-{n}.log"
                process = subprocess.Popen(
                    [str(args.python), "-m", "backend", *command], cwd=args.project,
                    env={**environ, "MODEL_DIR": str(stack / f"{role}-{n}")},
                    stdout=log.open("w"), stderr=subprocess.STDOUT)
                processes.append(process)
                if role == "web":
                    wait_for_health(f"http://127.0.0.1:{port}", process, log)
                    webs.append(("127.0.0.1", port))
        url = resources.enter_context(balancer(webs))
        print(f"balancer {url} -> web replicas {[p for _, p in webs]}; {args.workers} workers; "
              f"PostgreSQL {database}; Redis {queue}; logs in {stack}", flush=True)
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(1)
            print("a process of the stack stopped; stopping the rest", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
