"""tests/engines.py starts real servers: PostgreSQL answers and gives each test an empty
database, Redis answers and is flushed between tests, HAProxy balances and replays a request
whose backend died (refused, or killed mid-request) on another backend."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import engines
import pytest
from engines import balancer, drop_database, fresh_database, haproxy_command, require

# A backend for the balancer: GET /health, and any other GET or POST echoes its port and the
# body after ?delay= seconds; started with "crash", it exits at its first request but /health.
BACKEND = r"""
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

port, mode = int(sys.argv[1]), sys.argv[2]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # the answer leaves in one write: a kill -9 never cuts it after its headers

    def log_message(self, *args):
        pass

    def answer(self, body):
        url = urlsplit(self.path)
        if url.path != "/health" and mode == "crash":
            os._exit(1)
        time.sleep(float(parse_qs(url.query).get("delay", ["0"])[0]))
        data = json.dumps({"port": port, "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(b"")

    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers["Content-Length"])))

class Server(ThreadingHTTPServer):
    def handle_error(self, request, address):
        pass  # HAProxy ends its health checks with a reset

Server(("127.0.0.1", port), Handler).serve_forever()
"""


def request(url: str, method: str = "GET", path: str = "/echo", body: bytes | None = None,
            split: bool = False) -> tuple[int, dict]:
    """One request through a new connection; with `split`, the body is sent 0.2 s after the
    headers (as a slow client, or a large body, arrives)."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        connection.putrequest(method, path)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        if body is not None:
            if split:
                time.sleep(0.2)
            connection.send(body)
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if response.status == 200 else {"error": data.decode()}
    finally:
        connection.close()


def payload(n: int) -> bytes:
    return json.dumps({"n": n}).encode()


@pytest.fixture
def backends() -> Iterator[Callable[[str], tuple[subprocess.Popen, int]]]:
    """start(mode) runs a BACKEND ("ok" or "crash") on a free port: (its process, its port)."""
    started: list[subprocess.Popen] = []

    def start(mode: str = "ok") -> tuple[subprocess.Popen, int]:
        port = engines.free_port()
        process = subprocess.Popen([sys.executable, "-c", BACKEND, str(port), mode])
        started.append(process)
        deadline = time.monotonic() + 10
        while True:
            try:
                if request(f"http://127.0.0.1:{port}", path="/health")[0] == 200:
                    return process, port
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.02)

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_postgres_answers_and_each_fresh_database_is_its_own(postgres_server):
    import psycopg

    with psycopg.connect(postgres_server) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    first, second = fresh_database(postgres_server), fresh_database(postgres_server)
    assert first != second
    with psycopg.connect(first) as connection:
        connection.execute("CREATE TABLE annotations (id integer)")
    with psycopg.connect(second) as connection:
        assert connection.execute("SELECT to_regclass('annotations')").fetchone() == (None,)
    left_open = psycopg.connect(first)  # a test that forgot to close: the drop closes it
    drop_database(first)
    drop_database(second)
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    left_open.close()


@pytest.mark.parametrize("run", [1, 2])
def test_postgres_url_is_an_empty_database_for_each_test(postgres_url, run):
    import psycopg

    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        connection.execute("CREATE TABLE versions (id integer)")  # the other run must not see it


@pytest.mark.parametrize("run", [1, 2])
def test_redis_answers_and_is_flushed_for_each_test(redis_url, run):
    import redis

    with redis.Redis.from_url(redis_url) as client:
        assert client.ping() is True
        assert client.dbsize() == 0  # the other run's key is gone
        client.set("queued", run)


def test_the_balancer_takes_turns_among_the_backends_it_is_given(backends):
    require("haproxy")
    ports = [backends("ok")[1], backends("ok")[1]]
    with balancer([("127.0.0.1", port) for port in ports]) as url:
        answered = [request(url) for _ in range(6)]
        haproxy_command(url, "disable server backends/b0")  # its runtime API
        after = [request(url) for _ in range(4)]
    assert {status for status, _ in answered + after} == {200}
    assert {body["port"] for _, body in answered} == set(ports)
    assert {body["port"] for _, body in after} == {ports[1]}


def test_the_balancer_retries_on_another_backend_when_one_is_dead(backends):
    require("haproxy")
    (dead, dead_port), (_, live_port) = backends("ok"), backends("ok")
    with balancer([("127.0.0.1", dead_port), ("127.0.0.1", live_port)]) as url:
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        # at once, before a health check has marked it down: its connections are refused
        answered = [request(url, "POST", body=payload(n)) for n in range(10)]
    assert answered == [(200, {"port": live_port, "body": payload(n).decode()}) for n in range(10)]


@pytest.mark.parametrize("split", [False, True], ids=["whole", "body-after-headers"])
def test_a_request_whose_backend_dies_mid_request_is_replayed(backends, split):
    """The backend reads the request and exits without answering (as under kill -9): the
    balancer replays the POST, body included, on the other backend; also when the body came in
    after the headers (`option http-buffer-request` makes that one replayable too)."""
    require("haproxy")
    (crashing, crash_port), (_, live_port) = backends("crash"), backends("ok")
    with balancer([("127.0.0.1", crash_port), ("127.0.0.1", live_port)]) as url:
        answered = [request(url, "POST", body=payload(n), split=split) for n in range(4)]
    assert crashing.poll() is not None, "the crashing backend got a request"
    assert answered == [(200, {"port": live_port, "body": payload(n).decode()}) for n in range(4)]


def test_no_request_is_lost_when_a_backend_is_killed_under_load(backends):
    require("haproxy")
    (victim, victim_port), (_, survivor_port) = backends("ok"), backends("ok")
    answered: list[tuple[int, dict]] = []
    with balancer([("127.0.0.1", victim_port), ("127.0.0.1", survivor_port)]) as url:
        stop = time.monotonic() + 1.5

        def client(n: int) -> None:
            while time.monotonic() < stop:
                answered.append(request(url, "POST", "/echo?delay=0.1", payload(n)))

        clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in clients:
            thread.start()
        time.sleep(0.5)
        victim.send_signal(signal.SIGKILL)  # with requests of the 8 clients in flight on it
        for thread in clients:
            thread.join()
    assert len(answered) > 40
    assert [a for a in answered if a[0] != 200] == []
    assert {body["port"] for _, body in answered} == {victim_port, survivor_port}


def test_a_missing_engine_skips_or_with_mlgen_require_engines_fails(monkeypatch):
    monkeypatch.setattr(engines.shutil, "which", lambda name: None)
    monkeypatch.delenv("MLGEN_REQUIRE_ENGINES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="haproxy is not on the PATH"):
        require("haproxy")
    monkeypatch.setenv("MLGEN_REQUIRE_ENGINES", "1")
    with pytest.raises(pytest.fail.Exception, match="MLGEN_REQUIRE_ENGINES=1, but redis-server is not"):
        require("redis")
    with pytest.raises(engines.EngineMissingError):
        with engines.running_redis():
            pass
