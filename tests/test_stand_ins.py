"""Heads away (请假) and their stand-ins (代理): until the leave ends the stand-in is @-mentioned
beside the head, sent a copy of what goes to the head alone, and may act as the head; the
history names who acted for whom."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from chat_script import BRANCH, ZHANG, chat, replies, say, tickets
from flows import texts
from flows.stand_ins import acting_name, read_leave_until

ZONE = ZoneInfo("Asia/Shanghai")
BRANCH_HEAD, DEPUTY = "wxid_wang_guoqiang", "wxid_zhou_min"


def test_the_end_of_a_leave_as_written():
    now = datetime(2026, 11, 30, 8, tzinfo=ZONE)
    assert read_leave_until("至12月3日 代理 @周敏", now) == datetime(2026, 12, 4, tzinfo=ZONE)
    assert read_leave_until("到12-3号", now) == datetime(2026, 12, 4, tzinfo=ZONE)
    assert read_leave_until("至1月2日", now) == datetime(2027, 1, 3, tzinfo=ZONE)   # next year
    assert read_leave_until("至2月30日", now) is None and read_leave_until("下周回来", now) is None
    assert acting_name("周敏", "王国强") == "周敏（代王国强）" and acting_name("周敏", None) == "周敏"


async def test_a_stand_in_receives_the_escalation_and_acts_for_the_head(db, config):
    posts = await chat(db, config, [
        say("x", ZHANG, "请假 至12月3日 代理 @周敏", "张阿姨", at="2026-11-30T08:00:00+08:00"),
        say("l", BRANCH_HEAD, "请假 至12月3日 代理 @周敏", "王国强", room=BRANCH,
            at="2026-11-30T08:01:00+08:00"),
        say("o", ZHANG, "下单 3栋煤气味很重", "张阿姨", at="2026-11-30T09:00:00+08:00"),
        {"tick": "2026-11-30T09:11:00+08:00"},
        say("c", DEPUTY, "派单 #1 @邱煥武", "周敏", room=BRANCH, at="2026-11-30T09:12:00+08:00"),
        say("b", BRANCH_HEAD, "销假", "王国强", room=BRANCH, at="2026-11-30T09:15:00+08:00"),
        say("o2", ZHANG, "下单 5栋煤气味很重", "张阿姨", at="2026-11-30T09:20:00+08:00"),
        {"tick": "2026-11-30T09:31:00+08:00"},
    ])
    assert replies(posts, "x") == [texts.LEAVE_NOT_A_HEAD]
    [whistle, after] = [p for p in posts if p["text"].startswith("【吹哨】")]
    assert whistle["mentions"] == [BRANCH_HEAD, DEPUTY]   # the head and the stand-in
    assert after["mentions"] == [BRANCH_HEAD]             # back: the head alone
    # 派单 is a head above's: the deputy of the micro-grid may, standing in for the branch head.
    dispatched = " ".join(replies(posts, "c"))
    assert "周敏（代王国强）" in dispatched and tickets(db)[0].assignee_id == "wxid_qiu_huanwu"
    assert replies(posts, "b") == [texts.LEAVE_ENDED.format(head="王国强")]


async def test_a_digest_to_an_away_head_goes_to_the_stand_in_too(db, config):
    # The shipped config sends the village digest privately to its head on Mondays at 08:00.
    village_head = "wxid_li_wenhua"
    posts = await chat(db, config, [
        say("l", village_head, "请假 至12月9日 代理 @王国强", "李文华", room="baiyi@chatroom",
            at="2026-12-06T10:00:00+08:00"),
        {"tick": "2026-12-07T08:01:00+08:00"},
        {"tick": "2026-12-14T08:01:00+08:00"},   # the next Monday: the leave is over
    ])
    # gridbot chat writes a private post with no room, its recipient as its one mention.
    private = [p for p in posts if p["room"] is None and p["text"].startswith("【百宜社区工作简报】")]
    first = [p for p in private if "12-07 08:00 至" not in p["text"]]
    assert sorted(p["mentions"][0] for p in first) == sorted([village_head, BRANCH_HEAD])
    assert len({p["text"] for p in first}) == 1
    assert [p["mentions"] for p in private if "12-07 08:00 至" in p["text"]] == [[village_head]]
