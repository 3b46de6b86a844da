"""A bounded in-memory cache of predictions, per project, for the version it serves.

Label Studio asks for the same task again and again: Retrieve Predictions, then the labeling
stream, then every annotator who opens it. A prediction depends only on the served version and
the task's data, so it is kept under a digest of that data until the project serves another
version, which drops the project's entries (the next request finds the new version).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

import orjson


def data_key(data: Any) -> bytes:
    """A digest of a task's data: equal for equal data, whatever the key order. The data as
    orjson writes it (a fifth of json.dumps's time, paid by every task a cache misses), or as
    json does for what orjson refuses (a lone surrogate: then bytes that are not UTF-8, which
    orjson never writes, so the two kinds of text never meet)."""
    try:
        text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).digest()


class PredictionCache:
    def __init__(self, capacity: int) -> None:
        """`capacity`: predictions kept, least recently used dropped first."""
        self.capacity = capacity
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[str, bytes], dict[str, Any]] = OrderedDict()
        self._versions: dict[str, str] = {}  # project -> the version its entries belong to
        self._lock = threading.Lock()

    def get(self, project: str, version: str, key: bytes) -> dict[str, Any] | None:
        with self._lock:
            if self._versions.get(project) != version:
                self._drop(project)
                self._versions[project] = version
            found = self._entries.get((project, key))
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end((project, key))
            self.hits += 1
            return found

    def put(self, project: str, version: str, key: bytes, prediction: dict[str, Any]) -> None:
        with self._lock:
            if self._versions.get(project) != version:
                return  # the project moved to another version meanwhile
            self._entries[(project, key)] = prediction
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self._entries)}

    def _drop(self, project: str) -> None:
        for entry in [k for k in self._entries if k[0] == project]:
            del self._entries[entry]
