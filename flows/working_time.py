"""Working time: deadlines counted in working days and working hours (工作日, 工作小时), as grid
offices count them, not on the wall clock.

The national city-management standards and the 12345 hotline rules set their time limits in
working days; China's public holidays move working days around (调休: some weekends are working
days). The calendar comes from `chinese_calendar` (the maintained list, updated each year when the
State Council publishes the next year's holidays); a year it does not list yet counts Monday to
Friday as working days (and says so once in the log). Office hours come from the config
(`policy.office_hours`). Urgent tickets stay on the wall clock. Pure: no I/O, time passed in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)

__all__ = ["WorkCalendar", "WorkingTime", "is_workday", "read_amount", "parse_working_time"]

# An amount as a head writes it in chat, first in a message: `3工作日`, `3wd`, `2天`, `4小时`, `2d`.
_AMOUNT = re.compile(r"\s*(?P<amount>\d+)\s*(?:个)?\s*(?P<unit>工作日|工作小时|wd|wh|天|小时|d|h)\s*")

# `3wd`, `3工作日`, `3个工作日`; `4wh`, `4工作小时`, `4个工作小时`.
_WORKING = re.compile(r"(?P<amount>\d+)\s*(?:个)?\s*(?P<unit>wd|wh|工作日|工作小时)")


@dataclass(frozen=True)
class WorkingTime:
    """A duration in working days or working hours (one of them, more than zero)."""

    days: int = 0
    hours: int = 0

    def __str__(self) -> str:
        """As chat shows it: `3个工作日`, `4个工作小时`."""
        return f"{self.days}个工作日" if self.days else f"{self.hours}个工作小时"

    def as_config(self) -> str:
        """As config.yaml writes it: `3wd`, `4wh`."""
        return f"{self.days}wd" if self.days else f"{self.hours}wh"


def parse_working_time(text: object) -> WorkingTime | None:
    """`"3wd"` / `"3工作日"` → WorkingTime(days=3); `"4wh"` / `"4工作小时"` → WorkingTime(hours=4);
    None when `text` is not written in working time (then it is a wall-clock duration).
    Raises ValueError for zero."""
    if not isinstance(text, str):
        return None
    found = _WORKING.fullmatch(text.strip().lower())
    if found is None:
        return None
    amount = int(found["amount"])
    if amount <= 0:
        raise ValueError(f"a duration must be longer than zero, got {text!r}")
    days = found["unit"] in ("wd", "工作日")
    return WorkingTime(days=amount) if days else WorkingTime(hours=amount)


def read_amount(text: str) -> tuple[timedelta | WorkingTime | None, str]:
    """The amount at the start of a chat message and what follows it: `"3工作日 等配件"` →
    (WorkingTime(days=3), "等配件"); `"2天 下雨"` → (2 days, "下雨"); no amount first → (None, text)."""
    found = _AMOUNT.match(text)
    if found is None or int(found["amount"]) == 0:
        return None, text.strip()
    amount, unit = int(found["amount"]), found["unit"]
    rest = text[found.end():].strip()
    if unit in ("工作日", "wd"):
        return WorkingTime(days=amount), rest
    if unit in ("工作小时", "wh"):
        return WorkingTime(hours=amount), rest
    return (timedelta(days=amount) if unit in ("天", "d") else timedelta(hours=amount)), rest


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """Whether `day` is a working day in China: weekdays, less public holidays, plus the
    weekends worked in exchange (调休). A year `chinese_calendar` does not list: Monday to Friday."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        _warn_unlisted(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=64)
def _warn_unlisted(year: int) -> None:
    log.warning("the holiday calendar does not list %s yet: Monday to Friday count as working "
                "days (pip install -U chinesecalendar)", year)


@dataclass(frozen=True)
class WorkCalendar:
    """Office hours on China's working days, in `zone`; `after` adds durations to a moment."""

    zone: tzinfo
    opens: time = time(8, 30)
    closes: time = time(17, 30)

    def after(self, start: datetime, amount: timedelta | WorkingTime) -> datetime:
        """`start` (aware) plus `amount`: a timedelta on the wall clock; working days as that
        many working days later at the same time of day (a Friday 10:00 and 3 working days: the
        Wednesday 10:00, later when a holiday is in between), counted from the next working day
        when `start` is on a day off; working hours counted within office hours of working days
        only (Friday 16:30 and 4 working hours: Monday 11:30 with office hours 08:30–17:30).
        Returns an aware datetime in `start`'s zone."""
        if isinstance(amount, timedelta):
            return start + amount
        local = start.astimezone(self.zone)
        if amount.days:
            day = local.date()
            counted = 0
            while counted < amount.days:
                day += timedelta(days=1)
                counted += is_workday(day)
            return datetime.combine(day, local.time(), self.zone).astimezone(start.tzinfo)
        return self._after_hours(local, timedelta(hours=amount.hours)).astimezone(start.tzinfo)

    def _after_hours(self, cursor: datetime, left: timedelta) -> datetime:
        while True:
            day = cursor.date()
            opens = datetime.combine(day, self.opens, self.zone)
            closes = datetime.combine(day, self.closes, self.zone)
            if not is_workday(day) or cursor >= closes:
                cursor = datetime.combine(day + timedelta(days=1), self.opens, self.zone)
                continue
            cursor = max(cursor, opens)
            if cursor + left <= closes:
                return cursor + left
            left -= closes - cursor
            cursor = datetime.combine(day + timedelta(days=1), self.opens, self.zone)

    @property
    def day_length(self) -> timedelta:
        """The office hours of one working day (9 hours with 08:30–17:30)."""
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        """The office time of working days within [start, end) (aware datetimes): how much
        working time lies between two moments; zero when `end` is not after `start`. One step
        per calendar day, so a span of years costs a few hundred steps."""
        if end <= start:
            return timedelta(0)
        start, end = start.astimezone(self.zone), end.astimezone(self.zone)
        total = timedelta(0)
        day = start.date()
        while day <= end.date():
            if is_workday(day):
                opens = max(datetime.combine(day, self.opens, self.zone), start)
                closes = min(datetime.combine(day, self.closes, self.zone), end)
                if closes > opens:
                    total += closes - opens
            day += timedelta(days=1)
        return total
