"""Departments called in (呼叫, 部门报到; Beijing's 街乡吹哨、部门报到): a head calls a department
on a ticket, its group is posted once, a member reports (报到) and acts like a co-handler; one
that does not report in time is told to the head who called it, once."""

from __future__ import annotations

import pytest
import yaml

from chat_script import BRANCH, GRID, HEAD, ZHANG, chat, kinds, replies, say, tickets
from conftest import REPO
from flows import texts
from flows.config import ConfigError, parse_config
from models.tables import Status

CHENGGUAN, GONGDIAN = "wxid_cg", "wxid_gd"
DEPARTMENTS = [
    {"id": "chengguan", "name": "城管", "group": {"room": "chengguan@chatroom", "name": "城管中队群"},
     "members": [{"id": CHENGGUAN, "name": "城管老刘"}], "report_within": "30m"},
    {"id": "gongdian", "name": "供电", "members": [{"id": GONGDIAN, "name": "供电小张"}]},
]


def with_departments(departments=DEPARTMENTS):
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["departments"] = departments
    return parse_config(data)


def at(minute: int) -> str:
    return f"2026-11-30T09:{minute:02d}:00+08:00"


async def test_a_department_called_reports_and_resolves_and_one_silent_is_told_once(db):
    config = with_departments()
    posts = await chat(db, config, [
        say("o", ZHANG, "下单 3栋门口有人占道摆摊卖菜", "张阿姨", at=at(0)),
        say("k", HEAD, "接单 #1", "邱煥武", at=at(1)),
        say("x", ZHANG, "呼叫 #1 城管", "张阿姨", at=at(1)),                       # a resident
        say("c", HEAD, "呼叫 #1 城管", "邱煥武", at=at(2)),
        say("c2", HEAD, "吹哨 #1 @城管", "邱煥武", at=at(3)),                    # called already
        say("d", HEAD, "吹哨 #1 @供电", "邱煥武", at=at(4)),                     # sideways, no group
        say("u", HEAD, "呼叫 #1 消防", "邱煥武", at=at(5)),
        say("r0", GONGDIAN, "报到 #2", "供电小张", at=at(6)),
        say("r", CHENGGUAN, "报到 #1", "城管老刘", room="chengguan@chatroom", at=at(10)),
        say("p", CHENGGUAN, "进展 #1 已到现场劝离", "城管老刘", room="chengguan@chatroom", at=at(20)),
        {"tick": "2026-11-30T09:40:00+08:00"},                                   # 供电 never reported
        {"tick": "2026-11-30T09:50:00+08:00"},
        say("f", CHENGGUAN, "办结 #1 摊位已清理", "城管老刘", room="chengguan@chatroom", at=at(55)),
    ])
    assert replies(posts, "x") == [texts.NOT_A_HEAD_OF_TICKET.format(number=1, action="呼叫部门")]
    [called] = [p for p in posts if p["reply_to"] == "c" and p["room"] == "chengguan@chatroom"]
    assert called["mentions"] == [CHENGGUAN] and called["text"].startswith("【呼叫】#1")
    assert texts.DEPARTMENT_CALLED.format(department="城管", limit="30分钟") in replies(posts, "c")
    assert replies(posts, "c2") == [texts.DEPARTMENT_ALREADY.format(number=1, department="城管")]
    private = [p for p in posts if p["reply_to"] == "d" and p["room"] is None]
    assert [p["mentions"] for p in private] == [[GONGDIAN]]
    assert replies(posts, "u")[0].startswith("请写明呼叫哪个部门")
    assert replies(posts, "r0") == [texts.TICKET_NOT_FOUND.format(number=2)]
    [told] = [p for p in posts if p["reply_to"] == "r" and p["room"] == GRID]
    assert told["mentions"] == [HEAD] and told["text"] == texts.DEPARTMENT_REPORTED.format(
        number=1, department="城管", name="城管老刘")
    assert "已到现场劝离" in replies(posts, "p", GRID)[0]     # told to the reporter
    late = [p for p in posts if p["text"].startswith("#1 供电超过")]
    assert len(late) == 1 and late[0]["mentions"] == [HEAD] and late[0]["room"] == GRID
    assert tickets(db)[0].status == Status.RESOLVED
    assert [k for k in kinds(db, 1) if k.startswith("department")] == [
        "department_called", "department_called", "department_reported", "department_late"]


def test_departments_are_checked_at_start():
    with pytest.raises(ConfigError) as caught:
        with_departments([DEPARTMENTS[0], {**DEPARTMENTS[1], "name": "城管"},
                          {"id": "x", "name": "X", "group": {"room": "shibalong-1@chatroom", "name": "g"},
                           "members": [{"id": "m", "name": "m"}]}])
    assert caught.value.problems == [
        "departments[1]: '城管' is also departments[0]",
        "departments[2].group.room: 'shibalong-1@chatroom' is a group of the network"]
