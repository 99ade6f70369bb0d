"""Grouping and pacing (field case 27): the escalations one scan makes into one group are one post;
the outbox gives each room at most `transport.posts_per_room_per_minute` posts in any minute, in
order, and one room's backlog never holds back another room, across restarts too."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from bot.outbox import PostPipeline, deliver_pending, pending_count, post_values, write_posts
from bot.pacing import WINDOW, next_turn
from bot.transport import OutgoingPost
from flows import texts
from flows.lifecycle import Reply
from models.tables import OutboundPost
from chat_script import BRANCH, BRANCH_HEAD, GRID, chat

from conftest import START

OTHER = "hehua-1@chatroom"


class Recorder:
    """A transport that records what it sends; rooms in `failing` refuse."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.sent: list[OutgoingPost] = []
        self.failing = set(failing)

    async def send(self, post: OutgoingPost) -> None:
        if post.room in self.failing:
            raise ConnectionError(f"{post.room} refuses")
        self.sent.append(post)


def write(db, config, network, room: str, count: int, label: str) -> None:
    pipeline = PostPipeline.of(config, network)
    with db.session() as session:
        write_posts(session, [post_values(Reply(f"{label}{n}", room=room), room, None, START)
                              for n in range(count)], pipeline)
        session.commit()


def sent_in(transport: Recorder, room: str) -> list[str]:
    return [post.text for post in transport.sent if post.room == room]


def most_in_a_minute(db, room: str) -> int:
    with db.session() as session:
        times = sorted(session.exec(select(OutboundPost.delivered_at).where(
            OutboundPost.room == room, OutboundPost.delivered_at.is_not(None))).all())
    return max((sum(1 for t in times if start <= t < start + WINDOW) for start in times), default=0)


async def test_each_room_gets_twenty_a_minute_in_order_and_others_are_not_held(db, config,
                                                                               network, clock):
    write(db, config, network, GRID, 45, "grid ")
    write(db, config, network, OTHER, 3, "other ")            # written after the backlog
    transport = Recorder()
    assert await deliver_pending(db, transport, clock, 20) == 23
    assert sent_in(transport, GRID) == [f"grid {n}" for n in range(20)]
    assert sent_in(transport, OTHER) == [f"other {n}" for n in range(3)]   # not held back
    clock.advance(seconds=30)
    assert await deliver_pending(db, transport, clock, 20) == 0           # still the same minute
    assert next_turn(db, 20, clock()) == START + WINDOW + timedelta(microseconds=0)
    clock.advance(seconds=31)
    assert await deliver_pending(db, transport, clock, 20) == 20
    # A restart: a new sender reads the last minute from the outbox, nothing is sent twice.
    restarted = Recorder()
    assert await deliver_pending(db, restarted, clock, 20) == 0
    clock.advance(minutes=1)
    assert await deliver_pending(db, restarted, clock, 20) == 5
    assert sent_in(transport, GRID) + sent_in(restarted, GRID) == [f"grid {n}" for n in range(45)]
    assert pending_count(db) == 0 and next_turn(db, 20, clock()) is None
    assert most_in_a_minute(db, GRID) == 20


async def test_the_rate_is_the_configured_one(db, config, network, clock):
    write(db, config, network, GRID, 12, "grid ")
    transport = Recorder()
    assert await deliver_pending(db, transport, clock, 5) == 5
    clock.advance(seconds=59)
    assert await deliver_pending(db, transport, clock, 5) == 0
    clock.advance(seconds=2)
    assert await deliver_pending(db, transport, clock, 5) == 5


async def test_a_room_that_fails_holds_back_only_itself(db, config, network, clock):
    write(db, config, network, GRID, 3, "grid ")
    write(db, config, network, OTHER, 2, "other ")
    transport = Recorder(failing={GRID})
    assert await deliver_pending(db, transport, clock, 20) == 2
    assert sent_in(transport, OTHER) == ["other 0", "other 1"] and pending_count(db) == 3
    transport.failing.clear()
    assert await deliver_pending(db, transport, clock, 20) == 3
    assert sent_in(transport, GRID) == ["grid 0", "grid 1", "grid 2"]   # in order, none lost


async def test_in_the_bot_a_flood_of_posts_waits_its_turn(sim, db, clock):
    for n in range(25):
        await sim.say(GRID, f"wxid_res{n}", f"下单 {n % 4 + 1}栋楼道灯不亮", name=f"居民{n}")
    assert len([p for p in sim.posts if p.room == GRID]) == 20
    await sim.say(OTHER, "wxid_res_h", "下单 1栋楼道垃圾没人清", name="居民h")
    assert [p.room for p in sim.posts[-1:]] == [OTHER]                   # not behind GRID's
    clock.advance(minutes=1, seconds=1)
    await sim.bot.deliver()
    numbers = [int(re.search(r"#(\d+)", p.text).group(1)) for p in sim.posts if p.room == GRID]
    assert numbers == list(range(1, 26)) or numbers == sorted(numbers)
    assert len(numbers) == 25


# -- field case 27 -------------------------------------------------------------------------------

# Field case 27, as shipped: 25 requests from 21:00, every two minutes; quiet hours till 07:00.
CASE_27 = [{"id": f"z{n}", "room": GRID, "sender": f"wxid_res{n}", "name": f"居民{n}",
            "text": f"下单 {n % 4 + 1}栋{n % 6 + 1}楼楼道灯不亮",
            "at": f"2026-11-24T{21 + 2 * n // 60}:{2 * n % 60:02d}:00+08:00"} for n in range(25)]
CASE_27.append({"tick": "2026-11-25T07:00:00+08:00"})


async def test_case_27_a_morning_burst_is_one_grouped_post_in_the_group_above(db, config):
    posts = await chat(db, config, CASE_27)
    morning = [p for p in posts if p["room"] == BRANCH]
    assert 1 <= len(morning) <= 2
    assert [p["mentions"] for p in morning] == [[BRANCH_HEAD]] + [[]] * (len(morning) - 1)
    shown = "\n".join(p["text"] for p in morning)
    assert morning[0]["text"].startswith(texts.GROUPED_ESCALATED.format(count=25))
    assert sorted(int(n) for n in re.findall(r"#(\d+)【", shown)) == list(range(1, 26))
    assert all(len(p["text"]) <= config.transport.max_post_chars for p in morning)


async def test_a_scan_groups_per_group_and_a_single_one_keeps_its_notice(db, config):
    lines = [{"id": f"a{n}", "room": GRID, "sender": f"wxid_a{n}", "name": f"甲{n}",
              "text": "下单 1栋楼道灯不亮", "at": f"2026-11-24T09:0{n}:00+08:00"} for n in range(3)]
    lines += [{"id": "b1", "room": "baiyi-b2-1@chatroom", "sender": "wxid_b", "name": "乙",
               "text": "下单 11栋楼道灯不亮", "at": "2026-11-24T09:05:00+08:00"},
              {"tick": "2026-11-24T11:30:00+08:00"}]
    posts = await chat(db, config, lines)
    [ours] = [p for p in posts if p["room"] == BRANCH]
    [theirs] = [p for p in posts if p["room"] == "baiyi-b2@chatroom"]
    assert ours["text"].startswith(texts.GROUPED_ESCALATED.format(count=3))
    assert ours["mentions"] == [BRANCH_HEAD]
    assert theirs["text"].startswith("【吹哨】#4")                    # one: the notice as it was


async def test_reminders_at_the_top_are_one_post_per_interval(db, config):
    lines = [{"id": f"r{n}", "room": GRID, "sender": f"wxid_r{n}", "name": f"丙{n}",
              "text": "下单 2栋煤气味很重，快来人", "at": f"2026-11-24T09:0{n}:00+08:00"}
             for n in range(4)]
    lines += [{"tick": f"2026-11-24T{h:02d}:00:00+08:00"} for h in (10, 12, 14, 16, 18, 20)]
    posts = await chat(db, config, lines)
    top = [p for p in posts if p["room"] == "jili@chatroom"]
    # Four due together at the top (policy.reminders.group_after 3): the grouped reminder.
    reminders = [p for p in top if p["text"].startswith("【再次提醒】本群仍有 4 张单")]
    assert reminders and all(p["mentions"] == ["wxid_chen_jie"] for p in top)
    assert len(top) <= 6  # one post per scan (each in its own 2 h interval), never one per ticket
