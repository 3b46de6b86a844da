"""Which version a project serves (registry.Registry.served_version / current): a change made
in this process shows at once, one made by another process (a separate worker, another replica)
within SERVED_VERSION_SECONDS, and a training always reads it fresh."""

from __future__ import annotations

import time

from backend.registry import SERVED_VERSION_SECONDS, Registry
from backend.store import Store
from test_store import publish


def test_a_version_published_here_shows_at_once_and_one_published_elsewhere_within_the_period(tmp_path):
    path = tmp_path / "backend.db"
    here, elsewhere = Store(path), Store(path)  # elsewhere: another process on the same state
    registry = Registry(here, tmp_path / "models", "demo")
    assert registry.served_version("1") == "demo-untrained"
    first = publish(here, "1", 1)
    assert registry.served_version("1") == first  # published through this process's store
    second = publish(elsewhere, "1", 2)
    assert registry.served_version("1") == first  # not read again yet
    assert registry._served_version("1", fresh=True) == second  # a training reads it now
    third = publish(elsewhere, "1", 3)
    time.sleep(SERVED_VERSION_SECONDS + 0.05)
    assert registry.served_version("1") == third
    here.activate("1", first)  # a rollback in this process
    assert registry.served_version("1") == first
