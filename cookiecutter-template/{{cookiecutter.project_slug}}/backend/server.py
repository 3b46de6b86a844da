"""Run the service: Waitress for HTTP (short requests served by its loop thread: dispatch.py) and,
unless told otherwise, the Huey consumer beside it (with server.processes above 1, more web
processes on the same socket: processes.py).

SIGTERM and SIGINT stop both: the server stops taking requests, the consumer lets a running
training finish (up to SHUTDOWN_TIMEOUT), and a training cut off anyway is queued again at the
next start (the store still marks it running), or, with several workers on shared servers, by
another worker once its lease expires (Reaper); never half-published.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import warnings
from types import FrameType
from typing import Any

from huey.consumer import Consumer
from waitress.server import create_server

from .app import StripTrailingSlash, create_app
from .dispatch import LoopDispatcher, QuickRequests, serve_in_loop
from .garbage import freeze_loaded
from .processes import WebProcesses, bind, follow_parent
from .queue import reap, recover
from .service import Service

log = logging.getLogger(__name__)
# How long a stop waits for a running training. Docker's `stop` waits 10 s before it kills: a
# training still running after this is cut off, left marked running, and queued again at the
# next start (a model is published in one transaction after its file is written, never half).
SHUTDOWN_TIMEOUT = 5.0
# An idle consumer looks at the queue at least this often: the longest a queued training waits
# for it (polling SQLite is a cheap query).
POLL_SECONDS = 0.5
# How often a worker looks for trainings to queue again (a dead worker's, by its expired lease).
REAP_SECONDS = 5.0
# Waitress sends what a response has written once it holds this many bytes, and the rest when the
# request is done. Its default, 1, sends the headers alone and then the body: a process killed
# between the two leaves the client an answer cut after its headers, which a balancer cannot
# replay (it has passed the headers on). An answer under this size (every one but a /predict of
# thousands of tasks) leaves in one write: a kill either sends it whole or sends nothing, and a
# balancer sends the request again. A larger one streams from this size on.
SEND_BYTES = 1_048_576  # 1 MiB


class EmbeddedConsumer(Consumer):
    """A Huey consumer that leaves signal handling to the process that embeds it."""

    def _set_signal_handlers(self) -> None:
        pass


class Reaper(threading.Thread):
    """Calls queue.reap every few seconds until stopped, in every process that trains."""

    def __init__(self, service: Service) -> None:
        super().__init__(name="reaper", daemon=True)
        self.service = service
        self.every = min(REAP_SECONDS, service.settings.training_lease_seconds / 2)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                reap(self.service)
            except Exception:  # the state or the queue is unreachable for a moment
                log.warning("could not look for trainings to queue again", exc_info=True)


def start_consumer(service: Service) -> tuple[Consumer, Reaper]:
    consumer = EmbeddedConsumer(
        service.huey, workers=1, periodic=bool(service.config.training.schedule), flush_locks=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT, initial_delay=0.1, max_delay=POLL_SECONDS,
    )
    recover(service)
    consumer.start()
    reaper = Reaper(service)
    reaper.start()
    return consumer, reaper


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(service: Service, with_worker: bool = True, listen_fd: int | None = None,
          parent: int | None = None) -> None:
    """Serve HTTP (and train, `with_worker`). `listen_fd`: the socket of the serving process
    `parent` that started this one as one of its web processes."""
    settings = service.settings
    web_processes = None
    if listen_fd is not None:
        sock = socket.socket(fileno=listen_fd)
        if parent is not None:
            follow_parent(parent)
    else:
        sock = bind(settings.host, settings.port)
        if settings.processes > 1:
            web_processes = WebProcesses(sock, settings.processes - 1)
    dispatcher = LoopDispatcher(QuickRequests(service), settings.threads)
    with warnings.catch_warnings():  # "send_bytes will be removed in a future release" (pinned 3.0.2 has it)
        warnings.simplefilter("ignore", DeprecationWarning)
        server: Any = create_server(
            StripTrailingSlash(create_app(service)),
            sockets=[sock],
            max_request_body_size=settings.max_body_bytes + 1024 * 1024,  # the app answers 413 in JSON first
            ident=service.config.name,
            send_bytes=SEND_BYTES,
            _dispatcher=dispatcher,  # Waitress's own argument for a dispatcher of ours (pinned 3.0.2)
        )
    if web_processes is not None:
        web_processes.start()  # new interpreters (fork and exec) that share only the listening socket
    consumer, reaper = start_consumer(service) if with_worker else (None, None)
    signal.signal(signal.SIGTERM, _raise_system_exit)
    if listen_fd is None:
        log.info(
            "serving %s on http://%s:%s with %d process%s (state in %s, %s)", service.config.name, settings.host,
            server.effective_port, settings.processes, "es" if settings.processes > 1 else "", settings.model_dir,
            "training in this process" if consumer else "training in a separate worker",
        )
    serve_in_loop(server, dispatcher)
    freeze_loaded()  # the libraries and the state, out of the garbage collector's full passes
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()
        if web_processes is not None:
            web_processes.stop(SHUTDOWN_TIMEOUT)
        if consumer is not None:
            reaper.stopped.set()
            consumer.stop(graceful=True)
        log.info("stopped")


def work(service: Service) -> None:
    """Run only the consumer, for a deployment with the server in another process."""
    consumer = service.huey.create_consumer(
        workers=1, periodic=bool(service.config.training.schedule), flush_locks=True, shutdown_timeout=SHUTDOWN_TIMEOUT, max_delay=POLL_SECONDS
    )
    recover(service)
    Reaper(service).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    consumer.run()
