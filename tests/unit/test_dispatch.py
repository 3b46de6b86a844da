"""backend/dispatch.py: Waitress's loop thread serves the quick requests itself, the workers
serve the rest, and what the service counts as quick."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest
from backend.dispatch import QUICK_BYTES, LoopDispatcher, QuickRequests, serve_in_loop
from waitress.server import create_server


def app(environ, start_response):
    """Answers the name of the thread that served the request; /slow takes 0.5 s first."""
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.5)
    body = threading.current_thread().name.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def server():
    dispatcher = LoopDispatcher(lambda request: request.path != "/slow", threads=2)
    made = create_server(app, host="127.0.0.1", port=0, _dispatcher=dispatcher)

    def loop():
        serve_in_loop(made, dispatcher)
        made.run()

    def stop():  # in the loop thread, which then finds nothing left to poll and returns
        for channel in list(made._map.values()):
            channel.close()

    thread = threading.Thread(target=loop, name="loop", daemon=True)
    thread.start()
    yield made.effective_port
    made.trigger.pull_trigger(stop)
    thread.join(5)
    assert not thread.is_alive(), "the loop did not stop"
    dispatcher.shutdown()


def exchange(port: int, *paths: str) -> list[str]:
    """The bodies of GETs of `paths`, all sent at once on one connection (pipelined)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths))
        answers, data = [], b""
        while len(answers) < len(paths):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(answers)} answers"
            data += chunk
            while b"\r\n\r\n" in data:
                head, rest = data.split(b"\r\n\r\n", 1)
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                if len(rest) < length:
                    break
                answers.append(rest[:length].decode())
                data = rest[length:]
        return answers


def test_quick_requests_are_served_by_the_loop_and_the_rest_by_workers(server):
    assert exchange(server, "/quick") == ["loop"]
    assert exchange(server, "/slow")[0].startswith("waitress-")


def test_pipelined_requests_are_answered_in_order(server):
    answers = exchange(server, "/quick", "/slow", "/quick", "/quick")
    assert answers[0] == "loop" and answers[1].startswith("waitress-")
    assert len(answers) == 4  # the ones after a worker's: queued by the worker, so served by one too


def test_a_quick_request_does_not_wait_for_a_slow_one(server):
    slow = threading.Thread(target=exchange, args=(server, "/slow"))
    slow.start()
    time.sleep(0.1)
    started = time.perf_counter()
    assert exchange(server, "/quick") == ["loop"]
    assert time.perf_counter() - started < 0.3  # the slow one holds its worker for 0.5 s
    slow.join()


def request(command: str, path: str, length: int = 100, error: object = None) -> SimpleNamespace:
    return SimpleNamespace(command=command, path=path, content_length=length, error=error)


def service(images: object = None, compiled: bool = True) -> SimpleNamespace:
    return SimpleNamespace(images=images, registry=SimpleNamespace(all_compiled=lambda: compiled))


def test_what_the_service_counts_as_quick():
    quick = QuickRequests(service())
    assert quick(request("GET", "/health")) and quick(request("GET", "/")) and quick(request("GET", "/health/"))
    assert quick(request("POST", "/predict")) and quick(request("POST", "/setup/"))
    assert quick(request("POST", "/predict", QUICK_BYTES))
    assert not quick(request("POST", "/predict", QUICK_BYTES + 1))  # a batch of more than ~100 tasks
    for command, path in [("POST", "/webhook"), ("POST", "/train"), ("GET", "/metrics"), ("GET", "/status"),
                          ("GET", "/versions"), ("GET", "/predict"), ("DELETE", "/health")]:
        assert not quick(request(command, path)), (command, path)
    assert quick(request("POST", "/webhook", error=ValueError("bad header")))  # Waitress's own error page


def test_images_or_a_model_off_the_fast_path_go_to_the_workers():
    with_images = QuickRequests(service(images=object()))
    assert not with_images(request("POST", "/predict")) and not with_images(request("POST", "/setup"))
    assert with_images(request("GET", "/health"))
    general = QuickRequests(service(compiled=False))
    assert not general(request("POST", "/predict")) and general(request("POST", "/setup"))
