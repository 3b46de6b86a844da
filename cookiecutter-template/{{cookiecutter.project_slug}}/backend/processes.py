"""Several serving processes on one machine (server.processes, or SERVER_PROCESSES).

Python runs one thread at a time per process, so one process uses one core for predictions.
With server.processes N, `serve` binds the listening socket itself, starts N-1 web-only
processes (`serve --no-worker --listen-fd FD`) that accept connections on that same socket, and
serves on it too; only it runs the training worker, so exactly one consumer reads the queue.
The processes share the state directory as the separate worker always has (SQLite in WAL mode,
the queue file, atomic model files). A web process that dies is started again; a stop stops
them all. Each process loads the models it serves: memory grows with N.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from .settings import PROJECT_ROOT

log = logging.getLogger(__name__)
RESTART_DELAY_SECONDS = 1.0  # at least this long between two starts of one web process
LISTEN_BACKLOG = 1024  # as Waitress's own default


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every serving process accepts on, inheritable by them."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


class WebProcesses:
    """`count` web-only processes serving on `sock`, kept running until `stop`."""

    def __init__(self, sock: socket.socket, count: int) -> None:
        self.sock, self.count = sock, count
        self.children: list[subprocess.Popen[bytes] | None] = [None] * count
        self._started = [0.0] * count
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="web-processes", daemon=True)

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot)
        self._watcher.start()

    def stop(self, timeout: float) -> None:
        """SIGTERM every web process, then SIGKILL those still running after `timeout`."""
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()  # it starts no process once stopping is set
        children = [child for child in self.children if child is not None]
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _spawn(self, slot: int) -> None:
        fd = self.sock.fileno()
        command = [sys.executable, *optimize_flags(), "-m", "backend", "serve", "--no-worker", "--listen-fd", str(fd),
                   "--parent", str(os.getpid())]
        self._started[slot] = time.monotonic()
        self.children[slot] = subprocess.Popen(command, cwd=PROJECT_ROOT, pass_fds=(fd,))
        log.info("web process %d started (pid %d)", slot + 1, self.children[slot].pid)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for slot, child in enumerate(self.children):
                if child is None or child.poll() is None or self._stopping.is_set():
                    continue
                log.warning("web process %d (pid %d) exited with %s; starting it again",
                            slot + 1, child.pid, child.returncode)
                time.sleep(max(self._started[slot] + RESTART_DELAY_SECONDS - time.monotonic(), 0))
                if not self._stopping.is_set():
                    self._spawn(slot)


def optimize_flags() -> list[str]:
    """This interpreter's -O or -OO (the Docker image's PYTHONOPTIMIZE=2 reaches the web
    processes through the environment anyway; the flag does not)."""
    return ["-" + "O" * sys.flags.optimize] if sys.flags.optimize else []


def follow_parent(parent: int) -> None:
    """In a web process: stop (as on SIGTERM) when the process that started it is gone, even
    killed with -9, so that no web process outlives the service."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.warning("the serving process %d is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
