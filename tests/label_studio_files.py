"""A stand-in for the Label Studio whose files a backend reads (an image sample's README: its
LOCAL_FILES_DOCUMENT_ROOT and a Local Storage of its images), on a free 127.0.0.1 port.

/data/local-files/?d=<name> serves what `read(name)` gives to `Authorization: Token <token>`,
401 without it, 404 for a name `read` has not (after `slow` seconds for a name under slow/);
/api/tasks/ answers the import a first /setup starts with a project that has no annotation
yet; PATCH /api/projects/<id>/ accepts the served version as the prediction source. Every GET
is recorded with its Authorization header.
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

UNAUTHORIZED = b'{"detail": "Authentication credentials were not provided."}'


class LabelStudioFiles:
    def __init__(self, read: Callable[[str], bytes | None], token: str, slow: float = 0.0) -> None:
        self.token = token
        self.listed = threading.Event()  # the import asked for the project's tasks
        self.served = 0  # files served
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization) of each GET
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                stand_in.requests.append((self.path, auth))
                url = urlparse(self.path)
                if auth != f"Token {stand_in.token}":
                    return self.send(401, UNAUTHORIZED)
                if url.path == "/api/tasks/":
                    stand_in.listed.set()
                    return self.send(200, b'{"tasks": [], "total": 0}')
                name = parse_qs(url.query).get("d", [""])[0]
                body = read(name) if url.path == "/data/local-files/" else None
                if body is None:
                    return self.send(404, b"Not Found", "text/html")
                if name.startswith("slow/"):
                    time.sleep(slow)
                stand_in.served += 1
                self.send(200, body, "image/png")

            def do_PATCH(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                authorized = self.headers.get("Authorization") == f"Token {stand_in.token}"
                self.send(200 if authorized and self.path.startswith("/api/projects/") else 401, b"{}")

            def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def image_requests(self) -> list[tuple[str, str | None]]:
        return [(path, auth) for path, auth in self.requests if path.startswith("/data/local-files/")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def folder(root: Path) -> Callable[[str], bytes | None]:
    """A `read` serving the files under `root` (nothing outside it)."""
    def read(name: str) -> bytes | None:
        name = posixpath.normpath(name).lstrip("/")
        path = root / name
        return None if name.startswith("..") or not path.is_file() else path.read_bytes()
    return read
