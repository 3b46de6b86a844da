"""Which requests Waitress's loop thread serves itself, and which go to its worker threads.

Waitress reads every request in one thread, its loop, and hands each to a pool of worker threads.
For a request that takes a tenth of a millisecond, the hand-off costs more than the request: the
worker is woken, the loop is woken again to send the answer, and the GIL passes between them and
the other workers at every step. So a request known to be short is served by the loop thread
itself, as soon as it has been read in full (`QuickRequests` says which: /health, and /setup and
/predict with a small body for models on the fast path, with no image to fetch); every other
request goes to the workers as before. A short request holds the loop for about as long as a
worker holding the GIL already does (up to the interpreter's switch interval, 5 ms), so the
others wait about as long as they did; measured on samples/penguins under 4 connections, 1.7x
the one-task requests per second and 1.8x the 100-task ones (benchmarks/README.md). The
exception is a project's first /predict once another model is loaded, and its first after a new
version: the loop loads the model (file, fast path, garbage.py's collection: 85 ms for topics),
once per version, as a training in this process holds the GIL for longer anyway.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from waitress.channel import HTTPChannel
from waitress.task import ThreadedTaskDispatcher

if TYPE_CHECKING:
    from .service import Service

# The largest body of a /predict or /setup the loop serves itself: 100 tasks of a sample take
# 49-58 KiB and 1-1.5 ms; a body made to cost the most (30,000 tasks that are not objects) 70 ms.
QUICK_BYTES = 64 * 1024


class QuickRequests:
    """Whether a request read by Waitress is short enough for its loop thread to serve."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def __call__(self, request: Any) -> bool:
        if request.error is not None:
            return True  # Waitress answers it with its own short error page
        path = request.path.rstrip("/") or "/"
        if request.command == "GET":
            return path in ("/", "/health")
        if request.command != "POST" or path not in ("/predict", "/setup") or request.content_length > QUICK_BYTES:
            return False
        if self.service.images is not None:
            return False  # /predict fetches the tasks' images; /setup records where from
        return path == "/setup" or self.service.registry.all_compiled()


class LoopDispatcher(ThreadedTaskDispatcher):
    """Waitress's pool of worker threads, except for the quick requests the loop reads: those
    wait in `ready` until the loop has finished reading (it holds the channel's lock while it
    dispatches) and are served then, in the loop thread."""

    def __init__(self, quick: Callable[[Any], bool], threads: int) -> None:
        super().__init__()
        self.quick = quick
        self.ready: deque[HTTPChannel] = deque()
        self.loop_thread: int | None = None  # the thread that runs the server's loop
        self.set_thread_count(threads)

    def add_task(self, channel: Any) -> None:
        if threading.get_ident() == self.loop_thread and self.quick(channel.requests[0]):
            self.ready.append(channel)
        else:
            super().add_task(channel)  # a worker thread queues a connection's next request here too

    def serve_ready(self) -> None:
        while self.ready:
            self.ready.popleft().service()


class LoopChannel(HTTPChannel):
    """Waitress's connection, serving its quick requests once the loop has read them."""

    def handle_read(self) -> None:
        super().handle_read()
        self.server.task_dispatcher.serve_ready()


def serve_in_loop(server: Any, dispatcher: LoopDispatcher) -> None:
    """Serve quick requests in the loop of `server` (made with `dispatcher`), run from now on by
    the calling thread."""
    server.channel_class = LoopChannel
    dispatcher.loop_thread = threading.get_ident()
