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


# ---- 延期: asked by the handler, granted or refused by a head above -----------------------------

BRANCH = "baiyi-b1@chatroom"
HEAD, BRANCH_HEAD = "wxid_qiu_huanwu", "wxid_wang_guoqiang"


def ask(id, text, at, sender=HEAD, name="邱煥武", room="shibalong-1@chatroom"):
    return say(id, sender, text, name, room=room, at=at)


async def test_an_extension_asked_granted_refused_and_asked_too_late(db, config):
    from flows import texts
    from chat_script import replies

    posts = await chat(db, config, [
        ask("o", "下单 4栋2单元楼道灯不亮", "2026-11-27T10:00:00+08:00", ZHANG, "张阿姨"),
        ask("c", "接单 #1", "2026-11-27T10:05:00+08:00"),
        ask("x", "延期 #1 3工作日 等配件", "2026-11-27T10:06:00+08:00", ZHANG, "张阿姨"),  # not the handler
        ask("a", "延期 #1 3工作日 等配件", "2026-11-27T10:08:00+08:00"),
        ask("a2", "延期 #1 2天 再等等", "2026-11-27T10:09:00+08:00"),                   # one waits already
        ask("g0", "同意延期 #1", "2026-11-27T10:10:00+08:00"),                         # not above
        ask("g", "同意延期 #1", "2026-11-27T10:11:00+08:00", BRANCH_HEAD, "王国强", BRANCH),
        ask("b", "延期 #1 1天 还要再等", "2026-11-27T10:13:00+08:00"),
        ask("r", "不同意延期 #1 先临时接个灯", "2026-11-27T10:15:00+08:00", BRANCH_HEAD, "王国强", BRANCH),
        {"tick": "2026-12-02T10:30:00+08:00"},                                     # the old deadline
        ask("late", "延期 #1 1天 还没修好", "2026-12-07T10:30:00+08:00"),             # past the new one
    ])
    [call] = [p for p in posts if p["reply_to"] == "a" and p["room"] == BRANCH]
    assert call["mentions"] == [BRANCH_HEAD] and "申请延期 3个工作日：等配件" in call["text"]
    assert replies(posts, "x")[0].startswith("抱歉，#1 由 邱煥武 处理")
    assert replies(posts, "a2") == [texts.EXTENSION_PENDING.format(number=1)]
    assert replies(posts, "g0")[0] == texts.NOT_SUPERIOR.format(number=1, action="批准延期")
    # Resolve within 5 days of 11-27 10:00 → 12-02 10:00; three working days on: 12-07 (a weekend).
    assert texts.EXTENSION_GRANTED.format(number=1, amount="3个工作日", deadline="12-07 10:00") \
        in replies(posts, "g")
    assert texts.EXTENSION_REFUSED.format(number=1, reason="先临时接个灯", deadline="12-07 10:00") \
        in replies(posts, "r")
    assert not [p for p in posts if p["text"].startswith("【吹哨】")]   # nothing due at the old deadline
    assert replies(posts, "late") == [texts.EXTENSION_AFTER_DEADLINE.format(number=1)]
    assert tickets(db)[0].deadline_at == at(2026, 12, 7, 10)


def test_at_most_the_policys_extensions_per_ticket():
    from flows import lifecycle, texts
    from flows.lifecycle import Actor, Extensions, Role
    from models.tables import Status, Ticket

    ticket = Ticket(id=7, source_message_id="m", group_room="g", node_id="n", reporter_id="r",
                    reporter_name="r", text="灯坏了", category="repair", status=Status.CLAIMED,
                    assignee_id="h", assignee_name="邱煥武", created_at=at(2026, 11, 27, 10),
                    deadline_at=at(2026, 12, 2, 10))
    handler = Actor("h", "邱煥武", frozenset({Role.HANDLER}))
    above = parse_config(_config()).network   # any node: its head is asked
    outcome = lifecycle.ask_extension(ticket, handler, WorkingTime(days=1), "等配件",
                                      at(2026, 11, 28, 10), Extensions(granted=2), 2, above)
    assert outcome.replies[0].text == texts.EXTENSION_TOO_MANY.format(number=7, count=2)
    allowed = lifecycle.ask_extension(ticket, handler, WorkingTime(days=1), "等配件",
                                      at(2026, 11, 28, 10), Extensions(granted=1), 2, above)
    assert allowed.accepted


# ---- 核查: a resolution checked by someone other than who resolved it -------------------------

def _verified_config(**rule):
    data = _config()
    data["policy"]["verification"] = [rule]
    return parse_config(data)


async def test_verification_passed_and_failed_before_the_resident_rates(db):
    from chat_script import replies
    from flows import texts
    from models.tables import Status

    config = _verified_config(category="repair", by="head")
    deputy = "wxid_zhou_min"
    posts = await chat(db, config, [
        ask("o", "下单 4栋2单元楼道灯不亮", "2026-11-27T10:00:00+08:00", ZHANG, "张阿姨"),
        ask("c", "接单", "2026-11-27T10:01:00+08:00"),
        ask("r", "办结 #1 换了灯管", "2026-11-27T10:02:00+08:00"),
        ask("early", "评价 #1 满意", "2026-11-27T10:03:00+08:00", ZHANG, "张阿姨"),
        ask("self", "核查 #1 通过", "2026-11-27T10:04:00+08:00"),               # who resolved it
        ask("no", "核查 #1 不通过 三楼还是黑的", "2026-11-27T10:05:00+08:00", deputy, "周敏"),
        ask("r2", "办结 #1 三楼也换了", "2026-11-27T10:06:00+08:00"),
        ask("yes", "核查 #1 通过", "2026-11-27T10:07:00+08:00", deputy, "周敏"),
        ask("rate", "评价 #1 满意", "2026-11-27T10:08:00+08:00", ZHANG, "张阿姨"),
    ])
    [call, told] = [p for p in posts if p["reply_to"] == "r"]
    assert call["mentions"] == [deputy] and call["text"].startswith("#1 已报办结：换了灯管")
    assert told["mentions"] == [ZHANG] and told["text"] == texts.VERIFY_TOLD.format(number=1)
    assert replies(posts, "early") == [texts.NOT_RESOLVED_YET.format(number=1)]
    assert replies(posts, "self") == [texts.NOT_VERIFIER.format(number=1, who="本网格网格长")]
    assert replies(posts, "no") == [texts.VERIFICATION_FAILED.format(number=1, reason="三楼还是黑的")]
    assert texts.VERIFIED.format(number=1, result="三楼也换了") in replies(posts, "yes")
    assert replies(posts, "rate") == [texts.RATED.format(number=1, rating="满意")]
    assert tickets(db)[0].status == Status.CLOSED


async def test_a_head_who_resolved_alone_is_checked_from_above_and_the_clock_restarts(db):
    from chat_script import replies
    from flows import texts

    config = _verified_config(category="repair", level="microgrid", by="head")
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    lone = data["network"]["children"][0]["children"][0]["children"][1]   # 第二微网格: no deputy
    assert not lone.get("deputies")
    posts = await chat(db, config, [
        ask("o", "下单 路灯不亮", "2026-11-27T10:00:00+08:00", ZHANG, "张阿姨", lone["group"]["room"]),
        ask("r", "办结 #1 修好了", "2026-11-27T10:01:00+08:00", lone["head"]["id"], lone["head"]["name"],
            lone["group"]["room"]),
        ask("no", "核查 #1 不通过 还是不亮", "2026-11-27T10:30:00+08:00", BRANCH_HEAD, "王国强", BRANCH),
    ])
    [call] = [p for p in posts if p["reply_to"] == "r" and p["room"] == BRANCH]
    assert call["mentions"] == [BRANCH_HEAD]
    assert texts.VERIFICATION_FAILED.format(number=1, reason="还是不亮") in replies(posts, "no")
    # Back with its handler, a fresh resolve limit from the refusal (5 days, the default).
    assert tickets(db)[0].deadline_at == at(2026, 12, 2, 10, 30)


def test_a_verification_rule_naming_what_does_not_exist_stops_the_check():
    with pytest.raises(ConfigError) as caught:
        _verified_config(category="reapir", level="micrgrid")
    assert caught.value.problems == [
        "policy.verification[0].category: unknown category 'reapir', did you mean 'repair'?",
        "policy.verification[0].level: unknown level 'micrgrid', did you mean 'microgrid'?"]


async def test_a_ticket_waiting_for_verification_is_still_on_the_heads_list(db):
    from chat_script import replies

    config = _verified_config(category="repair", by="head")
    posts = await chat(db, config, [
        ask("o", "下单 4栋2单元楼道灯不亮", "2026-11-27T10:00:00+08:00", ZHANG, "张阿姨"),
        ask("r", "办结 #1 换了灯管", "2026-11-27T10:02:00+08:00"),
        ask("t", "待办", "2026-11-27T10:03:00+08:00", "wxid_zhou_min", "周敏"),
    ])
    [todo] = replies(posts, "t")
    assert "#1【报修】已报办结，待核查" in todo
