"""A small client of Label Studio's REST API: the calls backfill and auto-labeling need.

Both kinds of API key work: a legacy token (sent as `Token <key>`) and a personal access token,
which is a JWT refresh token exchanged at /api/token/refresh/ for a short-lived access token
(sent as `Bearer <access>`, refreshed when Label Studio answers 401). Connection failures and
5xx answers are retried with backoff; requests are spaced to respect a rate limit.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

RETRIES = 4
BACKOFF_SECONDS = 0.5


class LabelStudioError(RuntimeError):
    """Label Studio refused a request, or could not be reached after retries."""


def is_personal_access_token(key: str) -> bool:
    """Personal access tokens are JWTs: three base64url parts joined by dots."""
    parts = key.split(".")
    return len(parts) == 3 and all(parts)


class LabelStudio:
    def __init__(self, url: str, api_key: str, timeout: float = 30.0, max_rate: float | None = None,
                 retries: int = RETRIES) -> None:
        if not url or not api_key:
            raise LabelStudioError("set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.interval = 1.0 / max_rate if max_rate else 0.0
        self.retries = retries
        self._access: str | None = None
        self._last = 0.0
        self._lock = threading.Lock()

    # the calls ---------------------------------------------------------------------------------

    def tasks(self, project: str, page_size: int = 100, first_page: int = 1) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(page number, tasks with their annotations and predictions), page after page."""
        page = first_page
        while True:
            params = {"project": project, "page": page, "page_size": page_size, "fields": "all"}
            try:
                answer = self.request("GET", "/api/tasks/", params=params)
            except LabelStudioError as exc:
                if page > 1 and "404" in str(exc):  # past the last page
                    return
                raise
            tasks = answer.get("tasks", []) if isinstance(answer, dict) else answer
            if not tasks:
                return
            yield page, tasks
            total = answer.get("total") if isinstance(answer, dict) else None
            if len(tasks) < page_size or (total is not None and page * page_size >= total):
                return
            page += 1

    def task_count(self, project: str) -> int | None:
        """How many tasks the project has, or None when Label Studio does not say."""
        try:
            answer = self.request("GET", f"/api/projects/{project}/")
        except LabelStudioError:
            return None
        count = answer.get("task_number") if isinstance(answer, dict) else None
        return count if isinstance(count, int) else None

    def import_predictions(self, project: str, predictions: list[dict[str, Any]]) -> None:
        self.request("POST", f"/api/projects/{project}/import/predictions", body=predictions)

    def create_prediction(self, prediction: dict[str, Any]) -> int:
        return int(self.request("POST", "/api/predictions/", body=prediction)["id"])

    def set_model_version(self, project: str, version: str) -> None:
        """Make `version` the project's prediction source: the predictions the Data Manager
        scores and sorts by, and the labeling stream shows."""
        self.request("PATCH", f"/api/projects/{project}/", body={"model_version": version})

    def create_annotation(self, task: int, annotation: dict[str, Any]) -> int:
        return int(self.request("POST", f"/api/tasks/{task}/annotations/", body=annotation)["id"])

    # transport ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        refreshed = False
        for attempt in range(self.retries + 1):
            self._pace()
            request = urllib.request.Request(url, data=data, method=method, headers={
                "Authorization": self.authorization(), "Content-Type": "application/json",
                "Accept": "application/json",
            })
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                return json.loads(payload) if payload else None
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and is_personal_access_token(self.api_key) and not refreshed:
                    self._access, refreshed = None, True  # the access token expired: refresh once
                    continue
                if exc.code == 401:
                    raise LabelStudioError(
                        f"{method} {path}: 401 Unauthorized; check LABEL_STUDIO_API_KEY "
                        "(a legacy token, or a personal access token)") from None
                if exc.code < 500 or attempt == self.retries:
                    raise LabelStudioError(f"{method} {path}: {exc.code} {_excerpt(exc)}") from None
            except (TimeoutError, urllib.error.URLError, http.client.HTTPException, ConnectionError, json.JSONDecodeError) as exc:
                # A GET is safe to repeat; a POST only if it never reached the server.
                unsent = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
                if attempt == self.retries or not (method == "GET" or unsent):
                    raise LabelStudioError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
            time.sleep(BACKOFF_SECONDS * 2 ** attempt)
        raise LabelStudioError(f"{method} {path}: gave up")  # not reached

    def authorization(self) -> str:
        """The Authorization header for Label Studio: `Token <key>`, or `Bearer <access>` for a
        personal access token (exchanged first if need be). For callers that make their own
        requests with the same key (backend.fetch reads task files with it)."""
        if not is_personal_access_token(self.api_key):
            return f"Token {self.api_key}"
        if self._access is None:
            self._access = self._refresh()
        return f"Bearer {self._access}"

    def expire(self, used: str) -> None:
        """Forget the access token of the header `used`, which Label Studio refused (it expired):
        the next `authorization()` exchanges the key again. A header made before another caller
        refreshed it changes nothing."""
        if self._access is not None and used == f"Bearer {self._access}":
            self._access = None

    def _refresh(self) -> str:
        request = urllib.request.Request(
            self.url + "/api/token/refresh/", data=json.dumps({"refresh": self.api_key}).encode(),
            method="POST", headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return str(json.loads(response.read())["access"])
        except urllib.error.HTTPError as exc:
            raise LabelStudioError(
                f"the personal access token was refused ({exc.code}); create a new one in Label Studio") from None
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            raise LabelStudioError(f"cannot exchange the personal access token: {exc}") from None

    def _pace(self) -> None:
        if not self.interval:
            return
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()


def _excerpt(error: urllib.error.HTTPError) -> str:
    try:
        return error.read(300).decode("utf-8", "replace")
    except OSError:
        return error.reason or ""
