"""Heads away (请假) and who stands in for them (代理), as written in chat: `请假 至12月3日 代理
@周敏`. Until then the stand-in is @-mentioned and sent what the head is, and may act as the
head; the head can still act, and the history names who acted for whom (`周敏（代邱煥武）`).
Pure: no I/O, time passed in.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from flows.normalize import reading

__all__ = ["acting_name", "read_leave_until"]

# `至12月3日`, `到12月3号`, `至12-03`, `至12/3`: the last day away.
_UNTIL = re.compile(r"(?:至|到)\s*(?P<month>\d{1,2})\s*(?:月|-|/)\s*(?P<day>\d{1,2})\s*(?:日|号)?")


def read_leave_until(text: str, now: datetime) -> datetime | None:
    """The end of a leave written in `text` (`至12月3日`): the start of the day after that date,
    in `now`'s zone (aware), the next year's when that date has passed this year; None when the
    text names no such date or an impossible one (2月30日)."""
    found = _UNTIL.search(reading(text).text)
    if found is None:
        return None
    local = now
    for year in (local.year, local.year + 1):
        try:
            last = date(year, int(found["month"]), int(found["day"]))
        except ValueError:
            return None
        if last >= local.date():
            return datetime.combine(last + timedelta(days=1), datetime.min.time(), local.tzinfo)
    return None


def acting_name(name: str, for_name: str | None) -> str:
    """How an action is signed: `周敏（代邱煥武）` when done standing in, else the name."""
    return f"{name}（代{for_name}）" if for_name else name
