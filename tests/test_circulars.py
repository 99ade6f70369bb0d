"""Circulars (通知下发) through `gridbot chat`: a head's circular reaches every group below once,
receipts are counted per group, `通知情况` lists exactly the silent groups, the reminder goes
once, a redelivered `通知` sends nothing twice, and a pasted circular is never a command."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from chat_script import QUOTE_LINE, chat, say, tickets
from flows import texts
from flows.circulars import (is_receipt, quoted_circular, read_circular, receipt_answers_circular,
                             send_time)
from flows.config import QuietHours
from flows.network import Network
from models.tables import Circular, CircularDelivery, CircularReceipt, InboundMessage

VILLAGE, VILLAGE_HEAD = "baiyi@chatroom", "wxid_li_wenhua"
BRANCH, BRANCH_HEAD = "baiyi-b1@chatroom", "wxid_wang_guoqiang"
GRID, GRID_HEAD, DEPUTY = "shibalong-1@chatroom", "wxid_qiu_huanwu", "wxid_zhou_min"
GRID2, GRID2_HEAD = "shibalong-2@chatroom", "wxid_liu_jianguo"
GRID3, GRID3_HEAD = "shibalong-3@chatroom", "wxid_zhao_li"
B2, B2_HEAD = "baiyi-b2@chatroom", "wxid_sun_hong"
B2_GRID, B2_GRID_HEAD = "baiyi-b2-1@chatroom", "wxid_he_ping"
BELOW_VILLAGE = {BRANCH, GRID, GRID2, GRID3, B2, B2_GRID}
RESIDENT = "wxid_resident_zhang"


def at(hour: int, minute: int = 0, day: int = 24) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00+08:00"


def circular_posts(posts: list[dict], number: int = 1) -> list[dict]:
    return [post for post in posts if post["text"].startswith(f"【通知#{number}】")
            or post["text"].startswith(f"【紧急通知#{number}】")]


def quoting_circular(number: int, reply: str) -> str:
    return f"「网格小助手：【通知#{number}】百宜社区 李文华：\n明天停水」\n{QUOTE_LINE}\n{reply}"


WATER = "明天9点至17点全社区停水，请提前储水"


async def test_a_village_heads_circular_reaches_every_group_below_once(db, config):
    posts = await chat(db, config, [say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华",
                                        room=VILLAGE, at=at(10))])
    sent = circular_posts(posts)
    assert sorted(post["room"] for post in sent) == sorted(BELOW_VILLAGE)
    assert all(WATER in post["text"] and "百宜社区 李文华" in post["text"] for post in sent)
    assert all(post["mentions"] == [] for post in sent)   # not urgent: nobody @-mentioned
    confirmation = [post["text"] for post in posts if post["room"] == VILLAGE]
    assert confirmation == [texts.CIRCULAR_SENT.format(number=1, count=6)]
    # Another community's groups, and the township's, get nothing.
    assert not {post["room"] for post in posts} & {"hehua@chatroom", "hehua-1@chatroom", "jili@chatroom"}


async def test_a_redelivered_circular_message_sends_nothing_twice(db, config):
    line = say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10))
    posts = await chat(db, config, [line, line, {**line, "at": at(10, 5)}])
    assert len(circular_posts(posts)) == 6
    with db.session() as session:
        assert len(session.exec(select(Circular)).all()) == 1
        assert len(session.exec(select(CircularDelivery)).all()) == 6


async def test_stopping_at_a_level(db, config):
    posts = await chat(db, config, [say("c1", VILLAGE_HEAD, f"通知 支部 {WATER}", "李文华",
                                        room=VILLAGE, at=at(10))])
    sent = circular_posts(posts)
    assert sorted(post["room"] for post in sent) == sorted([BRANCH, B2])
    assert all(WATER in post["text"] and "支部" not in post["text"].split("\n")[1] for post in sent)


async def test_receipts_are_counted_per_group_and_the_status_lists_exactly_the_silent_ones(db, config):
    posts = await chat(db, config, [
        say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10)),
        say("r1", GRID_HEAD, "收到", "邱煥武", room=GRID, at=at(10, 5)),
        say("r2", DEPUTY, "收到！", "周敏", room=GRID, at=at(10, 6)),          # same group again
        say("r3", RESIDENT, "收到", "张阿姨", room=GRID2, at=at(10, 7)),       # a resident's
        say("r4", BRANCH_HEAD, quoting_circular(1, "收到，已转发"), "王国强", room=BRANCH,
            at=at(10, 8)),
        say("r5", B2_HEAD, "好的收到", "孙红", room=B2, at=at(10, 9)),
        say("s1", VILLAGE_HEAD, "通知情况 #1", "李文华", room=VILLAGE, at=at(10, 30)),
        say("s2", VILLAGE_HEAD, quoting_circular(1, "通知情况"), "李文华", room=VILLAGE,
            at=at(10, 31)),
    ])
    assert [p["text"] for p in posts if p["reply_to"] == "s2"] == [
        p["text"] for p in posts if p["reply_to"] == "s1"]
    assert [p["text"] for p in posts if p["reply_to"] == "r1"] == [
        texts.CIRCULAR_RECEIVED.format(number=1)]
    assert [p["text"] for p in posts if p["reply_to"] in ("r2", "r3")] == []  # counted silently
    status = [p["text"] for p in posts if p["reply_to"] == "s1"]
    assert len(status) == 1
    lines = status[0].split("\n")
    assert "下发 6 个群，3 个群网格长已确认收到，1 个群有居民回复收到" in lines[0]
    assert lines[1] == texts.CIRCULAR_SILENT_HEADER.format(count=3)
    assert sorted(lines[2:]) == sorted([
        "石坝垅小区第二微网格联户群（刘建国）", "石坝垅小区第三微网格联户群（赵丽）",
        "新村第一微网格联户群（何平）"])
    with db.session() as session:
        receipts = session.exec(select(CircularReceipt)).all()
        assert sorted((r.node_id, r.by_head) for r in receipts) == [
            ("baiyi-b1", True), ("baiyi-b2", True), ("shibalong-1", True), ("shibalong-1", True),
            ("shibalong-2", False)]


async def test_only_the_sender_or_a_head_above_sees_the_status(db, config):
    posts = await chat(db, config, [
        say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10)),
        say("s1", GRID_HEAD, "通知情况 #1", "邱煥武", room=GRID, at=at(10, 30)),
        say("s2", "wxid_chen_jie", "通知情况 #1", "陈洁", room="jili@chatroom", at=at(10, 31)),
    ])
    assert [p["text"] for p in posts if p["reply_to"] == "s1"] == [
        texts.CIRCULAR_NOT_FOUND.format(number=1)]
    assert "下发 6 个群" in [p["text"] for p in posts if p["reply_to"] == "s2"][0]


async def test_the_reminder_goes_once_to_the_silent_heads(db, config):
    remind_after = config.policy.circulars.remind_after
    start = datetime(2026, 11, 24, 10, tzinfo=timezone(timedelta(hours=8)))
    posts = await chat(db, config, [
        say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10)),
        say("r1", GRID_HEAD, "收到", "邱煥武", room=GRID, at=at(10, 5)),
        say("r2", BRANCH_HEAD, "收到", "王国强", room=BRANCH, at=at(10, 6)),
        {"tick": (start + remind_after - timedelta(minutes=1)).isoformat()},
        {"tick": (start + remind_after).isoformat()},
        {"tick": (start + remind_after + timedelta(minutes=5)).isoformat()},
        {"tick": (start + 3 * remind_after).isoformat()},
    ])
    reminders = [p for p in posts if p["text"].startswith("【通知提醒】通知#1")]
    assert sorted((p["room"], tuple(p["mentions"])) for p in reminders) == sorted([
        (GRID2, (GRID2_HEAD,)), (GRID3, (GRID3_HEAD,)), (B2, (B2_HEAD,)),
        (B2_GRID, (B2_GRID_HEAD,))])


async def test_a_bare_receipt_with_a_ticket_waiting_after_the_circular(db, config):
    """The rule of flows/circulars.py: 收到 answers the newest of the two; it never claims."""
    posts = await chat(db, config, [
        say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10)),
        say("o1", RESIDENT, "下单 4号楼二单元4楼的灯不亮", "张阿姨", room=GRID, at=at(10, 10)),
        say("r1", GRID_HEAD, "收到", "邱煥武", room=GRID, at=at(10, 11)),
        say("r2", GRID_HEAD, quoting_circular(1, "收到"), "邱煥武", room=GRID, at=at(10, 12)),
        say("k1", GRID_HEAD, "收到，接单", "邱煥武", room=GRID, at=at(10, 13)),
    ])
    assert [p["text"] for p in posts if p["reply_to"] == "r1"] == [
        texts.CIRCULAR_WHICH.format(number=1)]
    assert [p["text"] for p in posts if p["reply_to"] == "r2"] == [
        texts.CIRCULAR_RECEIVED.format(number=1)]
    assert [p["text"] for p in posts if p["reply_to"] == "k1" and p["room"] == GRID] == [
        texts.CLAIMED.format(number=1, handler="邱煥武")]
    assert tickets(db)[0].status == "claimed"


async def test_a_bare_receipt_with_a_ticket_waiting_before_the_circular_is_a_receipt(db, config):
    posts = await chat(db, config, [
        say("o1", RESIDENT, "下单 4号楼二单元4楼的灯不亮", "张阿姨", room=GRID, at=at(9, 50)),
        say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10)),
        say("r1", GRID_HEAD, "收到", "邱煥武", room=GRID, at=at(10, 11)),
    ])
    assert [p["text"] for p in posts if p["reply_to"] == "r1"] == [
        texts.CIRCULAR_RECEIVED.format(number=1)]
    assert tickets(db)[0].status == "open"   # 收到 claims nothing


async def test_a_pasted_circular_is_never_a_request_or_a_command(db, config):
    text = "下单小程序已上线，居民可在群里发「下单 事项」报修"
    posts = await chat(db, config, [
        say("c1", VILLAGE_HEAD, f"通知 {text}", "李文华", room=VILLAGE, at=at(10)),
        # The circular's text pasted by a resident, by a head; the post itself; the command.
        say("p1", RESIDENT, text, "张阿姨", room=GRID, at=at(10, 1)),
        say("p2", GRID_HEAD, text.replace("，", ","), "邱煥武", room=GRID, at=at(10, 2)),
        say("p3", GRID_HEAD, f"【通知#1】百宜社区 李文华：\n{text}", "邱煥武", room=GRID, at=at(10, 3)),
        say("p4", BRANCH_HEAD, f"通知 {text}", "王国强", room=BRANCH, at=at(10, 4)),
        say("p5", RESIDENT, f"@网格小助手 {text}", "张阿姨", room=GRID2, at=at(10, 5)),
    ])
    assert [p for p in posts if p["reply_to"] in ("p1", "p2", "p3", "p4", "p5")] == []
    assert tickets(db) == []
    with db.session() as session:
        assert len(session.exec(select(Circular)).all()) == 1
        skipped = {m.message_id: m.skipped for m in session.exec(select(InboundMessage))}
    assert all(skipped[m] == "own_notice" for m in ("p1", "p2", "p4", "p5")), skipped
    assert skipped["p3"] is None   # the post pasted whole starts as no command: talk


async def test_a_request_quoting_a_circular_is_still_a_request(db, config):
    posts = await chat(db, config, [
        say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10)),
        say("o1", RESIDENT, quoting_circular(1, "下单 4栋2单元楼道灯不亮"), "张阿姨", room=GRID,
            at=at(10, 5)),
    ])
    assert len(tickets(db)) == 1
    assert any(p["text"].startswith("已受理 #1") for p in posts if p["reply_to"] == "o1")


async def test_urgent_circular_mentions_heads_and_skips_quiet_hours(db, config):
    posts = await chat(db, config, [
        say("c1", VILLAGE_HEAD, "紧急通知 台风今晚登陆，请勿外出", "李文华", room=VILLAGE, at=at(23)),
        say("c2", VILLAGE_HEAD, "通知 明天上午疫苗接种", "李文华", room=VILLAGE, at=at(23, 5)),
    ])
    urgent = circular_posts(posts, 1)
    assert all(p["text"].startswith("【紧急通知#1】") for p in urgent)
    network = Network(config)
    assert sorted((p["room"], tuple(p["mentions"])) for p in urgent) == sorted(
        (network.node_for_room(room).group.room, (network.node_for_room(room).head.id,))
        for room in BELOW_VILLAGE)
    # Not urgent at 23:05: it waits for the end of quiet hours (07:00), and then goes.
    assert [p["text"] for p in posts if p["reply_to"] == "c2"] == [
        texts.CIRCULAR_SCHEDULED.format(number=2, count=6, at="11-25 07:00")]
    later = await chat(db, config, [{"tick": at(6, 59, day=25)}, {"tick": at(7, 0, day=25)}])
    assert sorted(p["room"] for p in circular_posts(later, 2)) == sorted(BELOW_VILLAGE)


async def test_refusals_and_usage(db, config):
    posts = await chat(db, config, [
        say("x1", RESIDENT, "通知：本周六小区消杀，请关好门窗", "张阿姨", room=GRID, at=at(10)),
        say("x2", GRID2_HEAD, "通知 明天停水", "刘建国", room=GRID, at=at(10, 1)),
        say("x3", VILLAGE_HEAD, "通知", "李文华", room=VILLAGE, at=at(10, 2)),
        say("x4", GRID_HEAD, "通知 明天停水", "邱煥武", room=GRID, at=at(10, 3)),
        say("x5", VILLAGE_HEAD, "通知情况", "李文华", room=VILLAGE, at=at(10, 4)),
        say("x6", VILLAGE_HEAD, "通知情况 #9", "李文华", room=VILLAGE, at=at(10, 5)),
    ])
    by = {p["reply_to"]: p["text"] for p in posts}
    assert "x1" not in by                       # a resident's 通知 is talk
    assert by["x2"] == texts.NOT_A_CIRCULAR_HEAD
    assert by["x3"] == texts.CIRCULAR_USAGE
    assert by["x4"] == texts.CIRCULAR_NO_GROUPS
    assert by["x5"] == texts.CIRCULAR_NUMBER_NEEDED
    assert by["x6"] == texts.CIRCULAR_NOT_FOUND.format(number=9)


async def test_the_senders_digest_lists_the_silent_groups(db, config):
    from bot.digest_runs import gather_digest
    start = datetime(2026, 11, 24, 0, tzinfo=timezone(timedelta(hours=8)))
    await chat(db, config, [
        say("c1", BRANCH_HEAD, f"通知 {WATER}", "王国强", room=BRANCH, at=at(10)),
        say("r1", GRID_HEAD, "收到", "邱煥武", room=GRID, at=at(10, 5)),
    ])
    network = Network(config)
    with db.session() as session:
        digest = "\n".join(gather_digest(session, config, network, network.node("baiyi-b1"),
                                         start, start + timedelta(days=1)))
    assert texts.DIGEST_CIRCULARS in digest
    assert "通知#1（11-24 10:00）2/3 个群未确认：石坝垅小区第二微网格联户群、石坝垅小区第三微网格联户群" in digest


# -- the pure rules ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["收到", "收到！", "好的收到", "已收到，谢谢", "收到通知", "收到了",
                                  "@网格小助手 收到", "收到👌", "收到。"])
def test_receipts(text):
    assert is_receipt(text)


@pytest.mark.parametrize("text", ["收到，接单", "收到了吗", "没收到", "还没收到通知", "我家快递收到了没有啊请问一下大家",
                                  "", "好的"])
def test_not_receipts(text):
    assert not is_receipt(text)


def test_reading_a_level():
    levels = ("township", "village", "branch", "microgrid")
    assert read_circular("支部 明天停水", levels).down_to == "branch"
    assert read_circular("微网格：明天停水", levels) == read_circular("微网格 明天停水", levels)
    assert read_circular("微网格：明天停水", levels).text == "明天停水"
    assert read_circular("社区卫生服务中心明天义诊", levels).down_to is None
    assert read_circular("支部 明天停水", ("township", "microgrid")).down_to is None


def test_quoted_circular_and_the_rule():
    assert quoted_circular("【通知#7】百宜社区：…") == 7
    assert quoted_circular("【紧急通知#12】…") == 12
    assert quoted_circular("已受理 #7【报修】") is None
    posted = datetime(2026, 11, 24, 10, tzinfo=timezone.utc)
    assert receipt_answers_circular(posted, None)
    assert receipt_answers_circular(posted, posted - timedelta(minutes=1))
    assert not receipt_answers_circular(posted, posted + timedelta(minutes=1))


def test_send_time_waits_out_quiet_hours_unless_urgent():
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("Asia/Shanghai")
    quiet = QuietHours(start="22:00", end="07:00")
    night = datetime(2026, 11, 24, 23, 30, tzinfo=zone)
    assert send_time(night, True, quiet, zone) == night
    assert send_time(night, False, quiet, zone) == datetime(2026, 11, 25, 7, tzinfo=zone)
    early = datetime(2026, 11, 25, 6, tzinfo=zone)
    assert send_time(early, False, quiet, zone) == datetime(2026, 11, 25, 7, tzinfo=zone)
    day = datetime(2026, 11, 25, 9, tzinfo=zone)
    assert send_time(day, False, quiet, zone) == day
    assert send_time(day, False, quiet, zone, day + timedelta(hours=2)) == day + timedelta(hours=2)


async def test_a_big_circular_is_written_by_the_schedulers_next_run(db, config):
    from flows.config import CircularPolicy
    small = config.model_copy(update={"policy": config.policy.model_copy(
        update={"circulars": CircularPolicy(write_at_once_up_to=3)})})
    posts = await chat(db, small, [say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华",
                                       room=VILLAGE, at=at(10))])
    assert circular_posts(posts) == []
    assert [p["text"] for p in posts if p["reply_to"] == "c1"] == [
        texts.CIRCULAR_QUEUED.format(number=1, count=6)]
    later = await chat(db, small, [{"tick": at(10, 1)}, {"tick": at(10, 2)}])
    assert sorted(p["room"] for p in circular_posts(later)) == sorted(BELOW_VILLAGE)


async def test_a_command_quoting_a_circular_is_that_command(db, config):
    posts = await chat(db, config, [
        say("o1", RESIDENT, "下单 4号楼二单元4楼的灯不亮", "张阿姨", room=GRID, at=at(9, 50)),
        say("c1", VILLAGE_HEAD, f"通知 {WATER}", "李文华", room=VILLAGE, at=at(10)),
        say("k1", GRID_HEAD, quoting_circular(1, "接单 #1 收到"), "邱煥武", room=GRID, at=at(10, 5)),
        say("q1", RESIDENT, quoting_circular(1, "满意"), "张阿姨", room=GRID, at=at(10, 6)),
    ])
    assert tickets(db)[0].status == "claimed"
    assert [p["text"] for p in posts if p["reply_to"] == "q1"] == []   # 通知#1 is no ticket #1
    with db.session() as session:
        assert session.exec(select(CircularReceipt)).all() == []


def test_reminder_due_once_after_the_wait():
    from flows.circulars import reminder_due
    sent = datetime(2026, 11, 24, 2, tzinfo=timezone.utc)
    wait = timedelta(hours=2)
    assert not reminder_due(None, None, wait, sent + wait)
    assert not reminder_due(sent, None, wait, sent + wait - timedelta(seconds=1))
    assert reminder_due(sent, None, wait, sent + wait)
    assert not reminder_due(sent, sent + wait, wait, sent + 2 * wait)
