"""The bot knows itself (field case 17): its own posts, echoed back, and its notices pasted by a
member are kept and never acted on; a reply that quotes a notice is still a reply."""

from __future__ import annotations

import pytest
from sqlmodel import select

from flows import texts
from flows.own_posts import comparable, is_notice_form, nearly_same
from models.tables import InboundMessage, Status
from chat_script import (BRANCH, BRANCH_HEAD, GRID, HEAD, QUOTE_LINE, ZHANG, chat, kinds, order,
                              replies, say, tickets)

# Field case 17, as shipped.
CASE_17 = [
    {"id": "p1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 2栋1单元502厨房水管爆了", "at": "2026-11-24T09:00:00+08:00"},
    {"tick": "2026-11-24T09:12:00+08:00"},
    {"id": "p2", "room": BRANCH, "sender": "wxid_gridbot", "name": "网格小助手", "text": "@王国强\u2005【吹哨】#1【紧急】【报修】2号楼1单元502室\n内容：2栋1单元502厨房水管爆了\n来自：石坝垅小区第一微网格\n原因：超过10分钟未接单\n请回复「接单 #1」或「派单 #1 @网格员」。", "at": "2026-11-24T09:12:01+08:00"},
    {"id": "p3", "room": BRANCH, "sender": "wxid_gridbot", "name": "网格小助手", "text": "@邱煥武\u2005【督办】#1 请抓紧处理（督办人：王国强）。", "at": "2026-11-24T09:13:01+08:00"},
]


def skipped(db) -> dict[str, str | None]:
    with db.session() as session:
        return {m.message_id: m.skipped for m in session.exec(select(InboundMessage))}


async def test_case_17_the_bots_own_posts_are_kept_and_never_acted_on(db, config):
    posts = await chat(db, config, CASE_17)
    assert replies(posts, "p2") == [] and replies(posts, "p3") == []
    # The scan's one escalation; no 吹哨 again and no 督办 by the bot itself.
    assert kinds(db, 1) == ["created", "escalated"]
    assert skipped(db)["p2"] == skipped(db)["p3"] == "own_post"


ESCALATION = ("【吹哨】#1【紧急】【报修】2号楼1单元502室\n内容：2栋1单元502厨房水管爆了\n来自：石坝垅小区第一微网格\n"
              "原因：超过10分钟未接单\n请回复「接单 #1」或「派单 #1 @网格员」。")


@pytest.mark.parametrize("pasted", [
    ESCALATION,                                            # the whole notice
    "@王国强\u2005" + ESCALATION,                           # with the mention it was sent with
    "@王国强 " + ESCALATION.replace("\n", " "),             # lines joined in copying
    ESCALATION.split("\n")[0],                             # its first line only
    "网格小助手：" + ESCALATION,                              # as a forwarded chat shows it
    "【督办】#1 请抓紧处理（督办人：王国强）。",
    "【督办】#1 请抓紧处理（督办人：王国强）。\n要求：今天内处理",
    "已受理 #1【紧急】【报修】2号楼1单元502室\n内容：2栋1单元502厨房水管爆了\n请网格长回复「接单」认领。",
    "已受理 #1【紧急】【报修】2号楼1单元502室",
    "#1 已办结：已关阀\n请回复「评价 #1 满意」「基本满意」或「不满意」。",
    "【再次提醒】#1【报修】4号楼\n内容：灯不亮\n已在本群超过2小时未接单，请尽快「接单 #1」或「派单 #1 @网格员」。",
])
async def test_a_pasted_notice_is_no_command_whoever_pastes_it(db, config, pasted):
    # The branch head pastes it in the branch group, the grid head in his: nothing happens.
    posts = await chat(db, config, [order("o1", "下单 2栋1单元502厨房水管爆了"),
                                    say("x1", BRANCH_HEAD, pasted, "王国强", room=BRANCH),
                                    say("x2", HEAD, pasted, "邱煥武")])
    assert replies(posts, "x1") == [] and replies(posts, "x2") == []
    assert kinds(db, 1) == ["created"] and tickets(db)[0].status == Status.OPEN
    # Those that read as a command (【吹哨】…, 【督办】…) are marked; the rest were talk anyway.
    from flows.commands import recognize
    expected = "own_notice" if recognize(pasted) else None
    assert skipped(db)["x1"] == skipped(db)["x2"] == expected


async def test_a_post_of_the_bot_copied_nearly_is_no_command(db, config):
    # A notice whose form changed since (or any recent post) copied with a character changed.
    posts = await chat(db, config, [
        order("o1"), say("c1", HEAD, "接单", "邱煥武"), say("c2", HEAD, "退单 #1 不是本网格的", "邱煥武"),
        say("x1", HEAD, "#1 已由 邱煥武 退单（不是本网格的），请网格长重新「接单 #1」", "邱煥武")])
    assert replies(posts, "x1") == []
    assert kinds(db, 1) == ["created", "claimed", "given_back"]


async def test_a_reply_quoting_a_notice_is_still_a_reply(db, config):
    notice = "已受理 #1【报修】4号楼2单元\n内容：4栋2单元楼道灯不亮\n请网格长回复「接单」认领。"
    posts = await chat(db, config, [order("o1"), order("o2", "下单 3栋门口下水道堵了", sender="wxid_li"),
                                    say("q1", HEAD, f"「网格小助手：{notice}」\n{QUOTE_LINE}\n接单", "邱煥武")])
    assert replies(posts, "q1") == [texts.CLAIMED.format(number=1, handler="邱煥武")]


@pytest.mark.parametrize("text", [
    "接单", "接单 #1", "办结 #1 已换灯泡", "#1 已办结：换了灯泡", "好的，我接单了", "吹哨 #1 需要社区协调",
    "【吹哨】#1 需要社区协调", "【督办】#1 请抓紧", "督办 #1 今天内处理", "评价 #1 满意", "查询 #1",
])
def test_commands_people_type_are_no_notice_forms(text):
    assert not is_notice_form(text)


def test_nearly_same_is_about_the_whole_post():
    post = "#1 已由 邱煥武 接单，正在处理。"
    assert nearly_same("#1 已由 邱煥武 接单,正在处理", post)
    assert nearly_same("@张阿姨\u2005" + post, post)
    assert not nearly_same("接单 #1", "请回复「接单 #1」或「派单 #1 @网格员」。")
    assert comparable("@邱煥武\u2005已受理 #2【报修】") == "已受理#2【报修】"
