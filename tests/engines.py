"""Real PostgreSQL, Redis and HAProxy servers for tests, each on a free 127.0.0.1 port with its
own temporary directory, stopped (and the directory removed) when its `with` block ends.

Context managers, for any test or script:

    from engines import balancer, fresh_database, running_postgres, running_redis

    with running_postgres() as server:          # postgresql://mlgen@127.0.0.1:PORT/mlgen
        url = fresh_database(server)            # an empty database of its own on that server
    with running_redis() as url:                # redis://127.0.0.1:PORT/0
        ...
    with balancer([("127.0.0.1", 8001), ("127.0.0.1", 8002)]) as url:   # http://127.0.0.1:PORT
        ...

Pytest fixtures, registered for every test in tests/conftest.py (request them by name):
`postgres_server` and `redis_server` (one server per session, its URL), `postgres_url` (a fresh
empty database per test, dropped after it) and `redis_url` (the session's Redis, flushed before
the test). Tests that start a balancer themselves call `require("haproxy")` first; outside
pytest, a missing engine raises EngineMissingError.

An engine that is not installed skips the tests that need it, with the reason; with
MLGEN_REQUIRE_ENGINES=1 in the environment (CI sets it) they fail instead. Debian's packages:
postgresql, redis-server, haproxy.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

STARTUP_SECONDS = 30
ENGINES = ("postgres", "redis", "haproxy")


class EngineMissingError(RuntimeError):
    """An engine (its program, or the Python client the helpers use) is not installed."""


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now (a server started on it may still lose a
    race for it; the starters below then try again on another one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- finding the engines ----------------------------------------------------------------------


@functools.cache
def postgres_bindir() -> Path | None:
    """The folder of initdb and postgres: $MLGEN_POSTGRES_BIN, pg_config's, Debian's newest
    /usr/lib/postgresql/N/bin, or the PATH's."""
    candidates = [os.environ.get("MLGEN_POSTGRES_BIN", "")]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                         timeout=10).stdout.strip())
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(debian, key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    initdb = shutil.which("initdb")
    candidates.append(str(Path(initdb).parent) if initdb else "")
    for folder in filter(None, candidates):
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "postgres")):
            return Path(folder)
    return None


def missing(engine: str) -> str | None:
    """Why `engine` ("postgres", "redis" or "haproxy") cannot run here, or None if it can."""
    programs = {"redis": "redis-server", "haproxy": "haproxy"}
    clients = {"postgres": "psycopg", "redis": "redis"}
    if engine == "postgres":
        if postgres_bindir() is None:
            return "PostgreSQL is not installed (no initdb and postgres; Debian: apt-get install postgresql)"
    elif engine in programs:
        if shutil.which(programs[engine]) is None:
            return f"{programs[engine]} is not on the PATH (Debian: apt-get install {programs[engine]})"
    else:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine in clients:
        try:
            __import__(clients[engine])
        except ImportError:
            return f"the Python package {clients[engine]} is not installed (pip install -e '.[test]')"
    return None


def require(*engines: str) -> None:
    """Skip the calling test unless every engine named can run (fail instead with
    MLGEN_REQUIRE_ENGINES=1)."""
    reasons = [reason for reason in map(missing, engines) if reason]
    if not reasons:
        return
    if os.environ.get("MLGEN_REQUIRE_ENGINES") == "1":
        pytest.fail("MLGEN_REQUIRE_ENGINES=1, but " + "; ".join(reasons), pytrace=False)
    pytest.skip("; ".join(reasons))


def _check(engine: str) -> None:
    reason = missing(engine)
    if reason:
        raise EngineMissingError(reason)


# -- processes --------------------------------------------------------------------------------


def _die_with_parent(sig: int) -> Callable[[], None]:
    """A preexec_fn: the child gets `sig` when the test process dies, even by SIGKILL, so that no
    server outlives an interrupted run (Linux's PR_SET_PDEATHSIG; elsewhere nothing). Linux sends
    it when the *thread* that started the server ends: start servers from a thread that lives as
    long as they should (pytest's main thread does)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return lambda: None
    return lambda: prctl(1, sig, 0, 0, 0)  # 1: PR_SET_PDEATHSIG


def _unprivileged_user() -> tuple[int, int] | None:
    """As root, the (uid, gid) to run PostgreSQL as (initdb and postgres refuse root): Debian's
    `postgres` user, else `nobody`. Otherwise None: it runs as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise EngineMissingError("running as root, and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


class _Process:
    """A server process whose output goes to `log`, stopped by `stop_signal`."""

    def __init__(self, argv: Sequence[str | Path], log: Path, stop_signal: int = signal.SIGTERM,
                 user: tuple[int, int] | None = None, cwd: Path | None = None) -> None:
        self.log = log
        self.stop_signal = stop_signal
        as_user: dict[str, Any] = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
        with log.open("ab") as out:
            self.popen = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, cwd=cwd,
                                          preexec_fn=_die_with_parent(stop_signal), **as_user)

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{what} exited with {self.popen.returncode}:\n{self.tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} did not answer in {STARTUP_SECONDS} s:\n{self.tail()}")
            time.sleep(0.02)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@contextlib.contextmanager
def _temporary_directory(prefix: str, owner: tuple[int, int] | None = None) -> Iterator[Path]:
    base = Path(tempfile.gettempdir()).resolve()
    if owner and not all(os.stat(folder).st_mode & stat.S_IXOTH for folder in (base, *base.parents)):
        base = Path("/tmp")  # $TMPDIR is private to us: the other user could not reach its folder
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        if owner:
            os.chown(folder, *owner)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _start_on_a_free_port(start: Callable[[int], _Process], attempts: int = 3) -> tuple[int, _Process]:
    """`start(port)` on a free port; again on another if the port was taken meanwhile."""
    for attempt in range(attempts):
        port = free_port()
        try:
            return port, start(port)
        except RuntimeError as error:
            if attempt == attempts - 1 or "in use" not in str(error):
                raise
    raise AssertionError("unreachable")


def _answers_tcp(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# -- PostgreSQL -------------------------------------------------------------------------------

POSTGRES_USER = "mlgen"
_databases = itertools.count(1)


def _postgres_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as connection:
            connection.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def running_postgres(database: str = "mlgen") -> Iterator[str]:
    """A PostgreSQL server of its own, trusting every local connection, without fsync (a test's
    data need not survive a crash), with `database` created; yields its URL."""
    _check("postgres")
    bindir = postgres_bindir()
    assert bindir is not None
    user = _unprivileged_user()
    with _temporary_directory("mlgen-postgres-", owner=user) as folder:
        data = folder / "data"
        subprocess.run([bindir / "initdb", "-D", data, "-A", "trust", "-U", POSTGRES_USER, "-E", "UTF8",
                        "--locale=C", "--no-sync", "--no-instructions"],
                       check=True, capture_output=True, cwd=folder,
                       **({"user": user[0], "group": user[1], "extra_groups": []} if user else {}))

        def start(port: int) -> _Process:
            process = _Process(
                [bindir / "postgres", "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={folder}", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                folder / f"postgres-{port}.log", stop_signal=signal.SIGINT, user=user, cwd=folder)
            # SIGINT: PostgreSQL's fast shutdown (disconnects clients); SIGTERM would wait for them
            process.wait_until(lambda: _postgres_answers(f"postgresql://{POSTGRES_USER}@127.0.0.1:{port}/postgres"),
                               "postgres")
            return process

        port, process = _start_on_a_free_port(start)
        try:
            server = f"postgresql://{POSTGRES_USER}@127.0.0.1:{port}/postgres"
            _execute(server, "CREATE DATABASE {}", database)
            yield _with_database(server, database)
        finally:
            process.stop()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def _execute(url: str, statement: str, database: str) -> None:
    """Run `statement` ("CREATE DATABASE {}", ...) with `database` quoted into it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL(statement).format(sql.Identifier(database)))


def fresh_database(url: str) -> str:
    """The URL of a new, empty database on the server of `url` (about 20 ms)."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    _execute(url, "CREATE DATABASE {}", name)
    return _with_database(url, name)


def drop_database(url: str) -> None:
    """Drop the database of `url`, closing whatever connections a test left open to it."""
    name = urlsplit(url).path.lstrip("/")
    _execute(_with_database(url, "postgres"), "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


# -- Redis ------------------------------------------------------------------------------------


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """A Redis server of its own, keeping nothing on disk; yields its URL (database 0)."""
    _check("redis")
    with _temporary_directory("mlgen-redis-") as folder:

        def start(port: int) -> _Process:
            process = _Process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", folder, "--daemonize", "no"],
                               folder / f"redis-{port}.log")
            process.wait_until(lambda: _redis_answers(port), "redis-server")
            return process

        port, process = _start_on_a_free_port(start)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.stop()


def flush_redis(url: str) -> None:
    """Empty every database of the Redis server of `url`."""
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushall()


# -- HAProxy ----------------------------------------------------------------------------------

# The settings that docker-compose.scale.yml's haproxy.cfg (in the template) uses too, with test
# timeouts. L7 retries (`retry-on` beyond conn-failure) replay a request from a copy that HAProxy
# keeps only when the whole request fits one buffer and had arrived before it was first sent:
# hence a larger tune.bufsize and `option http-buffer-request`. A backend killed mid-request is
# thus retried on another (`option redispatch 1`: every retry goes elsewhere), which means the
# request may run twice: the backend's endpoints must be safe to replay.
BALANCER_CONFIG = """\
global
    log stderr format raw daemon notice
    maxconn 512
    tune.bufsize 262144
    stats socket {folder}/admin.sock mode 600 level admin

defaults
    mode http
    log global
    timeout connect 500ms
    timeout client 30s
    timeout server {server_timeout}
    timeout check 500ms
    retries {retries}
    option redispatch 1
    retry-on {retry_on}
    option http-buffer-request
    timeout http-request 10s

frontend web
    bind 127.0.0.1:{port}
    default_backend backends

backend backends
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200,401
    default-server check inter 250ms fall 2 rise 1
{servers}
"""


@contextlib.contextmanager
def balancer(backends: Sequence[tuple[str, int]], retries: int = 3, retry_on: str = "all-retryable-errors",
             server_timeout: str = "30s") -> Iterator[str]:
    """HAProxy balancing HTTP round-robin over `backends` ((host, port) pairs), checking
    GET /health every 250 ms (200, or 401 from a backend with basic auth, means up) and retrying a
    failed request up to `retries` times on another backend; yields its URL. `haproxy_command`
    talks to its runtime API."""
    _check("haproxy")
    servers = "\n".join(f"    server b{i} {host}:{port}" for i, (host, port) in enumerate(backends))
    with _temporary_directory("mlgen-haproxy-") as folder:

        def start(port: int) -> _Process:
            config = folder / "haproxy.cfg"
            config.write_text(BALANCER_CONFIG.format(folder=folder, port=port, retries=retries, retry_on=retry_on,
                                                     server_timeout=server_timeout, servers=servers))
            process = _Process(["haproxy", "-f", config, "-db"], folder / f"haproxy-{port}.log")
            process.wait_until(lambda: _answers_tcp(port), "haproxy")
            return process

        port, process = _start_on_a_free_port(start)
        _admin_sockets[port] = folder / "admin.sock"
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            del _admin_sockets[port]
            process.stop()


_admin_sockets: dict[int, Path] = {}


def haproxy_command(url: str, command: str) -> str:
    """Send a runtime API command (`show servers state`, `disable server backends/b0`, ...) to
    the balancer at `url`; its answer."""
    path = _admin_sockets[urlsplit(url).port or 0]
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


# -- pytest fixtures (registered in tests/conftest.py) ----------------------------------------


def _session_server(engine: str, start: Callable[[], contextlib.AbstractContextManager[str]]) -> Iterator[str]:
    require(engine)
    with start() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One PostgreSQL server for the session: the URL of its `mlgen` database."""
    yield from _session_server("postgres", running_postgres)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for this test (dropped after it)."""
    url = fresh_database(postgres_server)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """One Redis server for the session: its URL."""
    yield from _session_server("redis", running_redis)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    flush_redis(redis_server)
    return redis_server
