"""Cron schedules ('minute hour day month weekday'), read with Huey's own crontab parser.

Shared with the mlgen generator, which checks `training.schedule` with this very function.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from huey import crontab


def parse_schedule(text: str) -> Callable[[datetime], bool]:
    """A test that tells whether a (UTC) minute matches; ValueError names what is wrong."""
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"a cron schedule has 5 fields (minute hour day month weekday), not {len(fields)}")
    minute, hour, day, month, weekday = fields
    try:
        return crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, strict=True)
    except ValueError as exc:
        raise ValueError(f"invalid cron schedule {text!r}: {exc}") from None
