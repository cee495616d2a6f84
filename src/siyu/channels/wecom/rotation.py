"""Which employees a live code's contact way should list right now (pure functions, no database).

WeCom spreads the scans of a multi-user contact way over the users it lists; Siyu steers the split by changing
that list (``update_contact_way``) after every add and on a periodic tick:

1. **Working hours.** Outside the code's schedule (weekdays and a local time window) the primary staff rest.
2. **Daily cap.** An employee who reached the code's cap of adds today is left out.
3. **Weights.** Among the eligible primaries, only those at or behind their share of today's adds are listed
   (share = weight / total weight), so the split converges to the weights: with 2:1 and no adds both are listed;
   after one add to the first only the second is, and so on. Nobody behind → the one furthest behind.
4. **Backup staff** take over when no primary is eligible (outside hours, or all capped); capped backups are left
   out too, and when every backup is capped as well all backups are listed: WeCom needs at least one user, and a
   customer who scans must reach someone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL_WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)  # ISO weekdays, Monday = 1


@dataclass(frozen=True)
class Candidate:
    userid: str
    weight: int = 1
    is_backup: bool = False
    adds_today: int = 0


def parse_hhmm(value: Any) -> dt.time | None:
    try:
        hours, minutes = str(value).split(":")
        return dt.time(int(hours), int(minutes))
    except (TypeError, ValueError):
        return None


def in_schedule(schedule: Mapping[str, Any] | None, local_now: dt.datetime) -> bool:
    """Whether ``local_now`` (in the organisation's time zone) is inside the schedule; no schedule = always.

    A window whose end is before its start spans midnight (``22:00``–``06:00``)."""
    if not schedule:
        return True
    weekdays = schedule.get("weekdays") or ALL_WEEKDAYS
    start, end = parse_hhmm(schedule.get("start")), parse_hhmm(schedule.get("end"))
    now = local_now.time()
    if start is None or end is None or start == end:
        return local_now.isoweekday() in weekdays
    if start < end:
        return local_now.isoweekday() in weekdays and start <= now < end
    # overnight: the part after midnight belongs to the previous day's shift
    if now >= start:
        return local_now.isoweekday() in weekdays
    previous = (local_now - dt.timedelta(days=1)).isoweekday()
    return now < end and previous in weekdays


def target_users(candidates: Sequence[Candidate], *, working: bool, daily_cap: int | None) -> list[str]:
    """The user ids the contact way should list now (sorted, never empty when there is any candidate)."""
    def under_cap(c: Candidate) -> bool:
        return daily_cap is None or c.adds_today < daily_cap

    primaries = [c for c in candidates if not c.is_backup]
    backups = [c for c in candidates if c.is_backup]
    eligible = [c for c in primaries if working and under_cap(c)]
    if not eligible:
        eligible = [c for c in backups if under_cap(c)] or backups or primaries
    if not eligible:
        return []
    return sorted(c.userid for c in _behind_their_share(eligible))


def _behind_their_share(eligible: Sequence[Candidate]) -> list[Candidate]:
    total_adds = sum(c.adds_today for c in eligible)
    total_weight = sum(max(c.weight, 1) for c in eligible)
    if total_adds == 0:
        return list(eligible)
    # adds/total <= weight/total_weight, compared without division
    due = [c for c in eligible if c.adds_today * total_weight <= max(c.weight, 1) * total_adds]
    if due:
        return due
    return [min(eligible, key=lambda c: (c.adds_today / max(c.weight, 1), c.userid))]
