"""Recall (撤回) and system messages (field case 24): a request nobody has claimed is withdrawn with
a note in its history; a handled one's handler is told; pats and join notices are ignored."""

from __future__ import annotations

import pytest

from flows import texts
from flows.message_forms import Form, read_form
from models.tables import Status
from chat_script import BRANCH, GRID, HEAD, ZHANG, chat, kinds, order, replies, say, tickets

AT_NINE = "2026-11-24T09:00:00+08:00"  # ticks below count from here
REVOKE = ('<sysmsg type="revokemsg"><revokemsg><session>shibalong-1@chatroom</session><msgid>1</msgid>'
          '<newmsgid>{id}</newmsgid><replacemsg><![CDATA["张阿姨" 撤回了一条消息]]></replacemsg>'
          '</revokemsg></sysmsg>')

# Field case 24, as shipped.
CASE_24 = [
    {"id": "v1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 3栋楼顶有人放风筝太危险", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "v2", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": REVOKE.format(id="v1"), "at": "2026-11-24T09:01:00+08:00"},
    {"id": "v3", "room": GRID, "sender": GRID, "name": "石坝垅小区第一微网格联户群", "text": "\"邱煥武\" 拍了拍 \"网格小助手\"", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "v4", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "<sysmsg type=\"pat\"><pat><fromusername>wxid_qiu_huanwu</fromusername><chatusername>shibalong-1@chatroom</chatusername><pattedusername>wxid_gridbot</pattedusername><template><![CDATA[\"${wxid_qiu_huanwu}\" 拍了拍 \"网格小助手\" 接单]]></template></pat></sysmsg>", "at": "2026-11-24T09:03:00+08:00"},
    {"id": "v5", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "\"邱煥武\"邀请\"刘大爷\"加入了群聊", "at": "2026-11-24T09:04:00+08:00"},
    {"tick": "2026-11-24T11:05:00+08:00"},
]


async def test_case_24_a_recalled_request_is_withdrawn_and_never_escalates(db, config):
    posts = await chat(db, config, CASE_24)
    assert replies(posts, "v2") == [texts.RECALLED.format(number=1)]
    [ticket] = tickets(db)
    assert ticket.status == Status.CANCELLED and ticket.escalation_due_at is None
    assert kinds(db, 1) == ["created", "recalled"]
    assert [p for p in posts if p["reply_to"] is None] == []  # the tick escalated nothing
    for system in ("v3", "v4", "v5"):
        assert replies(posts, system) == []


@pytest.mark.parametrize("recall", [
    {"recall": "o1"},                                                  # a gridbot chat recall line
    {"recall": "o1", "room": GRID, "sender": ZHANG, "at": "2026-11-24T10:00:00+08:00"},
    {"id": "r1", "room": GRID, "sender": ZHANG, "text": REVOKE.format(id="o1")},
])
async def test_recall_forms(db, config, recall):
    posts = await chat(db, config, [order("o1"), recall])
    assert texts.RECALLED.format(number=1) in [p["text"] for p in posts]
    assert tickets(db)[0].status == Status.CANCELLED


async def test_a_recall_of_a_claimed_request_tells_the_handler(db, config):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, "接单", "邱煥武"), {"recall": "o1"}])
    [told] = [p for p in posts if p["reply_to"] == "recall:o1"]
    assert told["mentions"] == [HEAD] and told["room"] == GRID
    assert told["text"] == texts.RECALLED_WHILE_HANDLED.format(number=1, handler="邱煥武")
    assert tickets(db)[0].status == Status.CLAIMED
    assert kinds(db, 1) == ["created", "claimed", "recalled"]


async def test_a_recall_twice_or_of_talk_changes_nothing(db, config):
    posts = await chat(db, config, [order("o1"), say("t1", ZHANG, "谢谢网格长"), {"recall": "t1"},
                                    {"recall": "o1"}, {"recall": "o1"}, {"recall": "nope"}])
    assert [p["text"] for p in posts].count(texts.RECALLED.format(number=1)) == 1
    assert kinds(db, 1) == ["created", "recalled"]


async def test_a_recalled_escalated_request_tells_the_group_it_reached(db, config):
    request = say("o1", ZHANG, "下单 2栋1单元502厨房水管爆了", "张阿姨", at=AT_NINE)
    posts = await chat(db, config, [request,
                                    {"tick": "2026-11-24T09:30:00+08:00"}, {"recall": "o1"}])
    told = {p["room"]: p["text"] for p in posts if p["reply_to"] == "recall:o1"}
    assert told == {GRID: texts.RECALLED.format(number=1),
                    BRANCH: texts.RECALLED_ELSEWHERE.format(number=1)}


@pytest.mark.parametrize("text", [
    '"邱煥武" 拍了拍 "网格小助手"', '"邱煥武" 拍了拍 "网格小助手" 接单', '"张阿姨" 撤回了一条消息',
    '"邱煥武"邀请"刘大爷"加入了群聊', '"刘大爷"通过扫描"邱煥武"分享的二维码加入群聊',
    '<sysmsg type="pat"><pat><template><![CDATA[x]]></template></pat></sysmsg>',
])
def test_system_texts(text):
    assert read_form(text).form == Form.SYSTEM


@pytest.mark.parametrize("text", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><sysmsg type="revokemsg">&a;</sysmsg>',
    "<msg><appmsg><title>接单", "<sysmsg", "下单 <b>3栋</b>灯坏了",
])
def test_bad_or_hostile_xml_is_plain_text(text):
    form = read_form(text)
    assert form.form == Form.TEXT and form.text == text
