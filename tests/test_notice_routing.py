"""Replies reach the people concerned (field cases 11, 20), quote forms (25, 13), and a member
flooding 下单 (policy.request_limit)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from flows import texts
from models.tables import InboundMessage, Status
from chat_script import (BRANCH, BRANCH_HEAD, GRID, HEAD, LI, QUOTE_LINE, ZHANG, chat, kinds,
                              order, replies, say, shipped_config_with, tickets)

VILLAGE = "baiyi@chatroom"


AT_NINE = "2026-11-24T09:00:00+08:00"  # ticks below count from here


def posts_for(posts: list[dict], message_id: str) -> dict[str, dict]:
    """The posts answering a message, by room (one post per room)."""
    found = [p for p in posts if p["reply_to"] == message_id]
    by_room = {p["room"]: p for p in found}
    assert len(by_room) == len(found), f"two posts in one room: {found}"
    return by_room


# ---- 11: the reporter is told where the reporter asked -----------------------------------------

CASE_11 = [
    {"id": "k1", "room": BRANCH, "sender": ZHANG, "name": "张阿姨", "text": "下单 4栋2单元楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "k2", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单", "at": "2026-11-24T09:05:00+08:00"},
    {"id": "k3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "办结 #1 已换灯泡", "at": "2026-11-24T10:00:00+08:00"},
    {"id": "k4", "room": BRANCH, "sender": ZHANG, "name": "张阿姨", "text": "下单 小区门口有人摆摊占道", "at": "2026-11-24T10:10:00+08:00"},
    {"id": "k5", "room": VILLAGE, "sender": LI, "name": "李叔叔", "text": "下单 9栋地下车库进水了", "at": "2026-11-24T10:20:00+08:00"},
]


async def test_case_11_a_request_in_a_branch_group_is_answered_there(db, config):
    posts = await chat(db, config, CASE_11)
    created = posts_for(posts, "k1")
    assert created[BRANCH]["text"].startswith("已受理 #1") and "已转「" in created[BRANCH]["text"]
    assert created[GRID]["mentions"] == [HEAD]  # the head is called in his own group
    claimed = posts_for(posts, "k2")
    assert claimed[BRANCH]["text"] == texts.CLAIMED.format(number=1, handler="邱煥武")
    assert claimed[GRID]["text"] == texts.CLAIMED_ELSEWHERE.format(number=1, handler="邱煥武")
    # The reporter is @-ed where she asked, though that group is above the micro-grid: she
    # showed her name there herself.
    assert claimed[BRANCH]["mentions"] == [ZHANG]
    resolved = posts_for(posts, "k3")
    assert resolved[BRANCH]["text"] == texts.RESOLVED.format(number=1, result="已换灯泡")
    assert resolved[BRANCH]["mentions"] == [ZHANG]
    assert resolved[GRID]["text"] == texts.RESOLVED_ELSEWHERE.format(number=1, handler="邱煥武")
    # A request that stays at the branch: one notice, in the branch group, @ its head.
    assert list(posts_for(posts, "k4")) == [BRANCH]
    assert posts_for(posts, "k4")[BRANCH]["mentions"] == [BRANCH_HEAD]
    # From the village group to a micro-grid: the same split.
    assert set(posts_for(posts, "k5")) == {VILLAGE, "shibalong-3@chatroom"}


async def test_the_reporter_rating_in_their_group_and_the_handler_told_in_his(db, config):
    posts = await chat(db, config, CASE_11[:3] + [
        say("k9", ZHANG, "评价 #1 不满意 灯还是不亮", "张阿姨", room=BRANCH)])
    told = posts_for(posts, "k9")
    assert told[GRID]["mentions"] == [HEAD] and "重新交由 邱煥武" in told[GRID]["text"]
    assert told[BRANCH]["mentions"] == [] and told[BRANCH]["text"] == told[GRID]["text"]


async def test_progress_reaches_the_reporter_where_they_asked(db, config):
    posts = await chat(db, config, CASE_11[:2] + [say("p1", HEAD, "进展 #1 明早换灯", "邱煥武")])
    told = posts_for(posts, "p1")
    assert told[BRANCH]["text"] == told[GRID]["text"] == texts.PROGRESS_NOTED.format(
        number=1, progress="明早换灯")


# ---- 20: every group a ticket reached hears it is taken; a takeover tells the previous handler --

CASE_20 = [
    {"id": "r1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 2栋1单元502厨房水管爆了", "at": "2026-11-24T09:00:00+08:00"},
    {"tick": "2026-11-24T09:11:00+08:00"},
    {"id": "r2", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单", "at": "2026-11-24T09:12:00+08:00"},
    {"id": "r3", "room": BRANCH, "sender": BRANCH_HEAD, "name": "王国强", "text": "接单 #1", "at": "2026-11-24T09:20:00+08:00"},
    {"id": "r4", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "办结 #1 已关总阀并更换水管", "at": "2026-11-24T09:50:00+08:00"},
]


async def test_case_20_the_group_it_reached_hears_the_claim_and_the_takeover(db, config):
    posts = await chat(db, config, CASE_20)
    claimed = posts_for(posts, "r2")
    assert claimed[GRID]["mentions"] == [ZHANG]
    assert claimed[BRANCH]["text"] == texts.CLAIMED_ELSEWHERE.format(number=1, handler="邱煥武")
    taken = posts_for(posts, "r3")
    assert taken[GRID]["mentions"] == [ZHANG, HEAD]  # the previous handler is told
    assert "原处理人：邱煥武" in taken[GRID]["text"]
    assert taken[BRANCH]["text"] == texts.TAKEN_OVER_ELSEWHERE.format(
        number=1, handler="王国强", previous="邱煥武")
    assert replies(posts, "r4") == [texts.NOT_HANDLER.format(number=1, handler="王国强",
                                                             action="办结")]


async def test_every_level_reached_hears_the_resolution_and_a_withdrawal(db, config):
    climbed = [say("o1", ZHANG, "下单 2栋1单元502厨房水管爆了", "张阿姨", at=AT_NINE),
               {"tick": "2026-11-24T13:00:00+08:00"}]
    posts = await chat(db, config, climbed + [say("c1", HEAD, "办结 #1 修好了", "邱煥武")])
    assert tickets(db)[0].escalation_level >= 2
    told = posts_for(posts, "c1")
    assert told[BRANCH]["text"] == told[VILLAGE]["text"] == texts.RESOLVED_ELSEWHERE.format(
        number=1, handler="邱煥武")


async def test_a_withdrawal_closes_the_call_upstairs(db, config):
    request = say("o1", ZHANG, "下单 2栋1单元502厨房水管爆了", "张阿姨", at=AT_NINE)
    posts = await chat(db, config, [request,
                                    {"tick": "2026-11-24T09:30:00+08:00"},
                                    say("x1", ZHANG, "撤单 #1", "张阿姨")])
    told = posts_for(posts, "x1")
    assert told[GRID]["text"] == texts.CANCELLED.format(number=1)
    assert told[BRANCH]["text"] == texts.CANCELLED_ELSEWHERE.format(number=1)


# ---- 25 and 13: quote forms, and a quote naming several tickets -------------------------------

APPMSG = ("<?xml version=\"1.0\"?>\n<msg>\n <appmsg appid=\"\" sdkver=\"0\">\n  <title>{reply}</title>\n"
          "  <des />\n  <type>57</type>\n  <refermsg>\n   <type>1</type>\n   <svrid>7012345678901234567</svrid>\n"
          "   <fromusr>shibalong-1@chatroom</fromusr>\n   <chatusr>wxid_gridbot</chatusr>\n"
          "   <displayname>网格小助手</displayname>\n   <content>{quoted}</content>\n  </refermsg>\n"
          " </appmsg>\n</msg>")
NOTICE_2 = "@邱煥武\u2005已受理 #2【报修】3号楼\n内容：3栋门口下水道堵了\n请网格长回复「接单」认领。"


async def test_case_25_a_quote_as_appmsg_xml_is_understood(db, config):
    posts = await chat(db, config, [
        order("x1"), order("x2", "下单 3栋门口下水道堵了", sender=LI),
        say("x3", HEAD, APPMSG.format(reply="接单", quoted=NOTICE_2), "邱煥武"),
        say("x4", HEAD, "查询 #2", "邱煥武")])
    assert replies(posts, "x3") == [texts.CLAIMED.format(number=2, handler="邱煥武")]
    assert "状态：处理中（邱煥武）" in replies(posts, "x4")[0]
    assert [t.status for t in tickets(db)] == [Status.OPEN, Status.CLAIMED]


@pytest.mark.parametrize("reply, expected", [
    ("接单", texts.CLAIMED.format(number=2, handler="邱煥武")),
    ("好的，我接单了", texts.CLAIMED.format(number=2, handler="邱煥武")),
    ("办结 已疏通", texts.RESOLVED.format(number=2, result="已疏通")),
])
async def test_appmsg_quote_variants(db, config, reply, expected):
    posts = await chat(db, config, [order("x1"), order("x2", "下单 3栋门口下水道堵了", sender=LI),
                                    say("x3", HEAD, APPMSG.format(reply=reply, quoted=NOTICE_2), "邱煥武")])
    assert replies(posts, "x3") == [expected]


async def test_a_rating_replying_to_the_resolution_as_appmsg(db, config):
    resolved = "#1 已办结：已换灯泡\n请回复「评价 #1 满意」「基本满意」或「不满意」。"
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, "接单", "邱煥武"),
                                    say("c2", HEAD, "办结 #1 已换灯泡", "邱煥武"),
                                    say("c3", ZHANG, APPMSG.format(reply="非常满意", quoted=resolved))])
    assert replies(posts, "c3") == [texts.RATED.format(number=1, rating="满意")]


SEVERAL = "本群有 2 张待接的单（#1、#2），请回复「接单 #编号」。"


@pytest.mark.parametrize("form", ["text", "appmsg"])
@pytest.mark.parametrize("reply", ["接单", "接单！", "好的，我接单了"])
async def test_case_13_a_quoted_notice_naming_several_asks_which(db, config, form, reply):
    text = (f"「网格小助手：{SEVERAL}」\n{QUOTE_LINE}\n{reply}" if form == "text"
            else APPMSG.format(reply=reply, quoted=SEVERAL))
    posts = await chat(db, config, [order("m1"), order("m2", "下单 3栋门口下水道堵了", sender=LI),
                                    say("m4", HEAD, text, "邱煥武"), say("m5", HEAD, "接单 #2 #1", "邱煥武")])
    assert replies(posts, "m4") == [texts.WHICH_ONE.format(count=2, numbers="#1、#2", keyword="接单")]
    assert [t.status for t in tickets(db)] == [Status.CLAIMED, Status.CLAIMED]
    assert kinds(db, 1) == ["created", "claimed"]  # claimed by m5, not by the quote


# ---- flood: policy.request_limit ---------------------------------------------------------------

async def test_a_member_flooding_gets_one_notice_and_no_more_tickets(db, config):
    flood = [say(f"f{n}", ZHANG, f"下单 {n % 9 + 1}栋楼道灯不亮", "张阿姨",
                 at=f"2026-11-24T09:0{n // 60}:{n % 60:02d}+08:00") for n in range(200)]
    posts = await chat(db, config, flood)
    limit = config.policy.request_limit.requests
    assert len(tickets(db)) == limit
    notices = [p for p in posts if p["text"] == texts.TOO_MANY_REQUESTS.format(window="10分钟",
                                                                              limit=limit)]
    assert len(notices) == 1 and notices[0]["reply_to"] == f"f{limit}"
    assert notices[0]["mentions"] == [ZHANG]
    assert len(posts) == limit + 1  # each ticket's notice and the one flood notice
    with db.session() as session:  # nothing is lost
        stored = session.exec(select(InboundMessage)).all()
    assert len(stored) == 200
    assert sum(m.skipped == "request_limit" for m in stored) == 200 - limit
    # Another household is not held back by her flood.
    more = await chat(db, config, [say("l1", LI, "下单 3栋门口下水道堵了", "李叔叔",
                                       at="2026-11-24T09:01:00+08:00")])
    assert more[0]["text"].startswith(f"已受理 #{limit + 1}")


async def test_after_the_window_the_member_may_ask_again(db, tmp_path_factory):
    tight = shipped_config_with(tmp_path_factory, "request_limit: {requests: 5, within: 10m}",
                                "request_limit: {requests: 2, within: 10m}")
    first = [say(f"a{n}", ZHANG, f"下单 {n + 1}栋灯不亮", "张阿姨", at=f"2026-11-24T09:0{n}:00+08:00")
             for n in range(4)]
    posts = await chat(db, tight, first + [
        say("b1", ZHANG, "下单 8栋灯不亮", "张阿姨", at="2026-11-24T09:11:00+08:00"),
        say("b2", ZHANG, "下单 9栋灯不亮", "张阿姨", at="2026-11-24T09:12:00+08:00"),
        say("b3", ZHANG, "下单 7栋灯不亮", "张阿姨", at="2026-11-24T09:13:00+08:00"),
        say("b4", ZHANG, "下单 6栋灯不亮", "张阿姨", at="2026-11-24T09:14:00+08:00")])
    limited = [texts.TOO_MANY_REQUESTS.format(window="10分钟", limit=2)]
    assert replies(posts, "a2") == limited and replies(posts, "a3") == []
    # Ten minutes on the window has room again: two more tickets, then a new window's notice.
    assert replies(posts, "b1")[0].startswith("已受理 #3")
    assert replies(posts, "b2")[0].startswith("已受理 #4")
    assert replies(posts, "b3") == limited and replies(posts, "b4") == []
    assert len(tickets(db)) == 4
