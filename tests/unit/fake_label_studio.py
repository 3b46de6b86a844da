"""A stand-in for Label Studio's REST API on 127.0.0.1, for backfill and auto-labeling tests.

Its contract follows Label Studio 1.23 (PROTOCOL.md, and label_studio/tasks, data_import and
jwt_auth): GET /api/tasks/?project=&page=&page_size=&fields=all pages through tasks with their
annotations and predictions and answers 404 past the last page; legacy tokens come as
`Token <key>`, personal access tokens are refreshed at /api/token/refresh/ into `Bearer` tokens.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

LEGACY = "legacy-token-0123456789"
PAT = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"


class FakeLabelStudio:
    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.tasks = tasks
        self.requests: list[tuple[str, str]] = []
        self.drop_pages: dict[int, int] = {}  # page -> how many more times to drop it midway
        self.access_uses = 10**9  # requests an access token is good for
        self.model_version: str | None = None  # the project's prediction source
        self._ids = itertools.count(1000)
        self._access: dict[str, int] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLabelStudio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def pages_requested(self) -> list[int]:
        return [int(parse_qs(urlparse(path).query)["page"][0]) for method, path in self.requests
                if method == "GET" and path.startswith("/api/tasks/")]

    def _authorized(self, header: str) -> bool:
        scheme, _, key = header.partition(" ")
        if scheme == "Token":
            return key == LEGACY
        if scheme == "Bearer" and key in self._access:
            self._access[key] -= 1
            return self._access[key] >= 0
        return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                if not fake._authorized(self.headers.get("Authorization", "")):
                    return self._send(401, {"detail": "Authentication credentials were not provided."})
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/api/tasks/":
                    return self._send(404, {"detail": "Not found."})
                page, size = int(query.get("page", 1)), int(query.get("page_size", 100))
                chunk = fake.tasks[(page - 1) * size: page * size]
                if not chunk and page > 1:
                    return self._send(404, {"detail": "Invalid page."})
                if fake.drop_pages.get(page, 0) > 0:  # headers, half a body, then hang up
                    fake.drop_pages[page] -= 1
                    data = json.dumps({"tasks": chunk, "total": len(fake.tasks)}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                return self._send(200, {"tasks": chunk, "total": len(fake.tasks)})

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                body = self._body()
                if self.path == "/api/token/refresh/":
                    if body.get("refresh") != PAT:
                        return self._send(401, {"detail": "Token is invalid or expired"})
                    access = f"access-{next(fake._ids)}"
                    fake._access[access] = fake.access_uses
                    return self._send(200, {"access": access})
                if not fake._authorized(self.headers.get("Authorization", "")):
                    return self._send(401, {"detail": "Authentication credentials were not provided."})
                by_id = {t["id"]: t for t in fake.tasks}
                if self.path.endswith("/import/predictions"):
                    for prediction in body:
                        by_id[prediction["task"]].setdefault("predictions", []).append(
                            {**prediction, "id": next(fake._ids)})
                    return self._send(201, {"created": len(body)})
                if self.path == "/api/predictions/":
                    prediction = {**body, "id": next(fake._ids)}
                    by_id[body["task"]].setdefault("predictions", []).append(prediction)
                    return self._send(201, prediction)
                if self.path.startswith("/api/tasks/") and self.path.endswith("/annotations/"):
                    task = by_id[int(self.path.split("/")[3])]
                    annotation = {**body, "id": next(fake._ids), "task": task["id"]}
                    task.setdefault("annotations", []).append(annotation)
                    return self._send(201, annotation)
                return self._send(404, {"detail": "Not found."})

            def do_PATCH(self) -> None:
                fake.requests.append(("PATCH", self.path))
                body = self._body()
                if not fake._authorized(self.headers.get("Authorization", "")):
                    return self._send(401, {"detail": "Authentication credentials were not provided."})
                parts = self.path.strip("/").split("/")
                if parts[:2] != ["api", "projects"] or len(parts) != 3:
                    return self._send(404, {"detail": "Not found."})
                versions = {p.get("model_version") for t in fake.tasks for p in t.get("predictions") or []}
                if body.get("model_version") not in versions:  # as Label Studio's serializer checks
                    return self._send(400, {"validation_errors": {"model_version": [
                        "Model version doesn't exist either as live model or as static predictions."]}})
                fake.model_version = body["model_version"]
                return self._send(200, {"id": int(parts[2]), "model_version": fake.model_version})

        return Handler
