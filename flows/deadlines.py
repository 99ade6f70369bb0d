"""Deadlines as grid offices read them (`限 12-03 周三 17:00 前，剩 1.5 个工作日`): the day, the
weekday and the time a ticket's running limit runs out, and how much time is left or overdue in
the limit's own terms: working days or working hours on the policy's working calendar
(flows/working_time.py) for a limit written in working time, hours and minutes on the wall clock
otherwise (urgent tickets always). The digest's ticket lines and the dashboard show this one text.
Pure: no I/O, time passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from flows import texts
from flows.config import Timers
from flows.escalation import format_chinese_duration
from flows.working_time import WorkCalendar, WorkingTime
from models.tables import Status, Ticket

__all__ = ["DeadlineView", "deadline_text", "running_limit"]


def running_limit(status: Status, timers: Timers) -> timedelta | WorkingTime | None:
    """The limit whose deadline a ticket in `status` runs against: `claim_within` while open,
    `resolve_within` once claimed; None when no timer runs (resolved, closed, …)."""
    if status == Status.OPEN:
        return timers.claim_within
    if status == Status.CLAIMED:
        return timers.resolve_within
    return None


def _tenths(value: float) -> str:
    """1.5 → `1.5`, 2.0 → `2`, 0.04 → `0.1` (never 0 for a span that is not nothing)."""
    shown = max(round(value, 1), 0.1) if value > 0 else 0.0
    return f"{shown:g}"


def _working(span: timedelta, limit: WorkingTime, calendar: WorkCalendar) -> tuple[str, str]:
    """(amount, unit) of a working-time span: in working days for a limit in days (in working
    hours once under one day), in working hours for a limit in hours."""
    if limit.days and span >= calendar.day_length:
        return _tenths(span / calendar.day_length), texts.WORKING_DAYS
    return _tenths(span / timedelta(hours=1)), texts.WORKING_HOURS


def _wall(span: timedelta) -> str:
    """A wall-clock span in its two largest units: `1小时20分钟`, `2天3小时`."""
    if span >= timedelta(days=1):
        span = timedelta(hours=span // timedelta(hours=1))
    return format_chinese_duration(span)


def deadline_text(deadline: datetime, now: datetime, limit: timedelta | WorkingTime | None,
                  calendar: WorkCalendar, zone: tzinfo) -> str:
    """`限 12-03 周三 17:00 前，剩 1.5 个工作日` (local time in `zone`): the deadline, and the
    time left (or `已超 3 工作小时` past it) counted in office hours of working days on `calendar`
    when `limit` is working time, else on the wall clock (`剩 1小时20分钟`). `deadline` and `now`
    are aware."""
    local = deadline.astimezone(zone)
    when = texts.DEADLINE_AT.format(date=local.strftime("%m-%d"),
                                    weekday=texts.WEEKDAYS[local.weekday()],
                                    time=local.strftime("%H:%M"))
    late = now > deadline
    first, last = (deadline, now) if late else (now, deadline)
    if isinstance(limit, WorkingTime):
        amount, unit = _working(calendar.working_between(first, last), limit, calendar)
        left = (texts.DEADLINE_OVERDUE if late else texts.DEADLINE_LEFT).format(
            amount=amount, unit=unit)
    else:
        left = (texts.DEADLINE_OVERDUE_WALL if late else texts.DEADLINE_LEFT_WALL).format(
            span=_wall(last - first))
    return f"{when}，{left}"


@dataclass(frozen=True)
class DeadlineView:
    """What a ticket's deadline text needs from the policy: the time it is read at (`now`, aware),
    the local zone, the working calendar and the timers of a kind of ticket
    (`Policy.timers_for`)."""

    now: datetime
    zone: tzinfo
    calendar: WorkCalendar
    timers_for: Callable[[str, bool], Timers]

    def of(self, ticket: Ticket) -> str | None:
        """The ticket's deadline text; None when no timer runs on it."""
        if ticket.deadline_at is None:
            return None
        limit = running_limit(Status(ticket.status), self.timers_for(ticket.category, ticket.urgent))
        return deadline_text(ticket.deadline_at, self.now, limit, self.calendar, self.zone)
