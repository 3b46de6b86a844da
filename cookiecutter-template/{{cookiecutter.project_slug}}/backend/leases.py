"""Keep a running training's lease alive, and name the process that holds it.

A worker that claims a training holds it under a lease in the store (store.claim_training);
while the training runs, a thread renews the lease every third of its length. A worker that
dies stops renewing, its lease expires, and any worker's reaper (queue.reap) queues the training
again. A worker that was only slow (a lease it could not renew in time) loses the training to
the one that took it over, and publishes nothing (store.LeaseLost).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from types import TracebackType

from .store import Store

log = logging.getLogger(__name__)


def process_holder() -> str:
    """A name for this process, unique among every process sharing the state."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TrainingLease:
    """Renews `holder`'s lease on the project's training until the block ends."""

    def __init__(self, store: Store, project: str, holder: str, seconds: float) -> None:
        self.store, self.project, self.holder, self.seconds = store, project, holder, seconds
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{project}", daemon=True)

    def __enter__(self) -> TrainingLease:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        try:
            self._renew_until_stopped()
        finally:
            self.store.database.close_thread()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                renewed = self.store.renew_lease(self.project, self.holder, self.seconds)
            except Exception:  # the database is unreachable for a moment: try again next time
                log.warning("project %s: could not renew the training's lease", self.project, exc_info=True)
                continue
            if not renewed:
                self.lost = True
                log.warning("project %s: this worker lost its training to another (its lease expired)",
                            self.project)
                return
