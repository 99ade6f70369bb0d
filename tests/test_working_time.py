"""Working-time clocks (工作日, 工作小时): deadlines over weekends, China's public holidays and the
weekends worked in exchange (调休), office hours; urgent tickets stay on the wall clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml

from chat_script import ZHANG, chat, say, tickets
from conftest import REPO
from flows.config import ConfigError, parse_config
from flows.working_time import WorkCalendar, WorkingTime, is_workday, parse_working_time

ZONE = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar(ZONE)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZONE)


@pytest.mark.parametrize("written,expected", [
    ("3wd", WorkingTime(days=3)), ("3工作日", WorkingTime(days=3)), ("3个工作日", WorkingTime(days=3)),
    ("4wh", WorkingTime(hours=4)), ("4工作小时", WorkingTime(hours=4)), ("2h", None), ("5d", None),
])
def test_working_time_as_written(written, expected):
    assert parse_working_time(written) == expected


@pytest.mark.parametrize("start,amount,deadline", [
    (at(2026, 11, 27, 10), WorkingTime(days=3), at(2026, 12, 2, 10)),      # Friday → Wednesday
    (at(2026, 11, 28, 10), WorkingTime(days=1), at(2026, 11, 30, 10)),     # from a Saturday
    (at(2026, 9, 30, 10), WorkingTime(days=1), at(2026, 10, 8, 10)),       # over National Day
    (at(2026, 10, 9, 10), WorkingTime(days=1), at(2026, 10, 10, 10)),      # onto a 调休 Saturday
    (at(2026, 11, 27, 16, 30), WorkingTime(hours=4), at(2026, 11, 30, 11, 30)),  # office hours
    (at(2026, 11, 27, 20), WorkingTime(hours=1), at(2026, 11, 30, 9, 30)),  # after hours
    (at(2026, 11, 27, 7), WorkingTime(hours=2), at(2026, 11, 27, 10, 30)),  # before hours
    (at(2026, 11, 27, 10), timedelta(hours=2), at(2026, 11, 27, 12)),      # the wall clock
])
def test_deadlines_on_the_working_calendar(start, amount, deadline):
    assert CALENDAR.after(start, amount) == deadline


def test_a_year_the_holiday_list_does_not_hold_yet_counts_weekdays():
    assert is_workday(date(2027, 3, 5)) and not is_workday(date(2027, 3, 6))
    assert CALENDAR.after(at(2027, 3, 5, 10), WorkingTime(days=1)) == at(2027, 3, 8, 10)


def _config(**timers):
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["policy"]["timers"] = timers
    return data


def test_urgent_timers_stay_on_the_wall_clock():
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(urgent={"claim_within": "1wd"}))
    assert "urgent timers stay on the wall clock" in caught.value.problems[0]
    timers = parse_config(_config(normal={"claim_within": "1wd", "resolve_within": "3工作日"})
                          ).policy.timers_for("repair", False)
    assert (timers.claim_within, timers.resolve_within) == (WorkingTime(days=1), WorkingTime(days=3))


async def test_a_request_on_friday_afternoon_escalates_after_the_weekend(db):
    data = _config(normal={"claim_within": "1wd"})
    data["policy"].pop("quiet_hours", None)
    config = parse_config(data)
    posts = await chat(db, config, [
        say("o", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-27T16:00:00+08:00"),  # Friday
        {"tick": "2026-11-28T18:00:00+08:00"},
        {"tick": "2026-11-29T18:00:00+08:00"},
        {"tick": "2026-11-30T15:59:00+08:00"},   # Monday, a working day after: not yet
        {"tick": "2026-11-30T16:01:00+08:00"},
    ])
    whistles = [p for p in posts if p["text"].startswith("【吹哨】")]
    assert len(whistles) == 1 and "超过1个工作日未接单" in whistles[0]["text"]
    assert tickets(db)[0].deadline_at == at(2026, 11, 30, 16)
