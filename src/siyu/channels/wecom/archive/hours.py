"""Working-hours arithmetic for the reply-timeout rule: a customer who writes at 17:50 with a 30-minute rule and
working hours 09:00–18:00 on weekdays is overdue at 09:20 on the next working day."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings

WEEKDAYS = (1, 2, 3, 4, 5)


def deadline(start: dt.datetime, minutes: int, *, work_start: dt.time, work_end: dt.time,
             work_days: list[int] | tuple[int, ...] = ()) -> dt.datetime:
    """``start`` plus ``minutes`` of working time (local time zone of the installation)."""
    days = set(work_days or WEEKDAYS)
    zone = ZoneInfo(settings.TIME_ZONE)
    at = start.astimezone(zone)
    left = dt.timedelta(minutes=minutes)
    for _ in range(400):  # a year and some: enough for any configuration with one working day a week
        opens = dt.datetime.combine(at.date(), work_start, tzinfo=zone)
        closes = dt.datetime.combine(at.date(), work_end, tzinfo=zone)
        if at.isoweekday() in days and at < closes:
            at = max(at, opens)
            if at + left <= closes:
                return at + left
            left -= closes - at
        at = dt.datetime.combine(at.date() + dt.timedelta(days=1), work_start, tzinfo=zone)
    raise ValueError("no working time in the schedule")
