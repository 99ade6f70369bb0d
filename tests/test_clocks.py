"""Time from outside is checked. A message's own time is kept as the sender's claim, but the
timers run on when the bot received it (the sender's time only within
`policy.sender_clock_tolerance`); the scheduler's clock jumping ahead (further than
`policy.max_clock_jump` beyond the time that passed) is logged and not taken as time passed,
while a real downtime is still caught up once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import select

from bot.service import SchedulerClock, make_scan
from conftest import START
from flows.escalation import clock_time
from models.tables import InboundMessage, Status, Ticket

GRID, BRANCH = "shibalong-1@chatroom", "baiyi-b1@chatroom"
VILLAGE, TOWNSHIP = "baiyi@chatroom", "jili@chatroom"
RESIDENT, HEAD = "wxid_resident_zhang", "wxid_qiu_huanwu"
FIVE_MINUTES = timedelta(minutes=5)


def tickets(db) -> list[Ticket]:
    with db.session() as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)).all())


def test_the_sender_time_counts_only_within_the_tolerance():
    assert clock_time(START - timedelta(minutes=4), START, FIVE_MINUTES) == START - timedelta(minutes=4)
    assert clock_time(START + timedelta(minutes=5), START, FIVE_MINUTES) == START + timedelta(minutes=5)
    assert clock_time(START + timedelta(minutes=6), START, FIVE_MINUTES) == START
    assert clock_time(datetime(2036, 1, 1, tzinfo=START.tzinfo), START, FIVE_MINUTES) == START
    assert clock_time(datetime(2001, 1, 1, tzinfo=START.tzinfo), START, FIVE_MINUTES) == START


async def test_a_message_dated_2036_escalates_on_time(sim, db, clock):
    dated = datetime(2036, 1, 1, 9, 0, tzinfo=START.tzinfo)
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮", at=dated)
    [ticket] = tickets(db)
    assert ticket.created_at == START and ticket.escalation_due_at == START + timedelta(hours=2)
    with db.session() as session:
        assert session.exec(select(InboundMessage.sent_at)).one() == dated  # the claim, kept
    await sim.bot.tick(clock.advance(hours=2))
    assert [p.room for p in sim.posts if p.text.startswith("【吹哨】")] == [BRANCH]


async def test_a_message_dated_2001_does_not_go_straight_to_the_top(sim, db, clock):
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮",
                  at=datetime(2001, 1, 1, 9, 0, tzinfo=START.tzinfo))
    before = len(sim.posts)
    await sim.bot.tick(clock.advance(minutes=1))
    assert sim.posts[before:] == [] and tickets(db)[0].escalation_level == 0


async def test_a_message_a_few_minutes_late_keeps_its_own_time(sim, db, clock):
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮", at=START - timedelta(minutes=3))
    assert tickets(db)[0].created_at == START - timedelta(minutes=3)


class Ticks:
    """A monotonic clock the test moves with the wall clock (or not, for a jump)."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


async def test_a_scheduler_clock_jump_of_ten_years_runs_no_years_of_work(sim, db, clock, caplog):
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮")                  # #1 open
    await sim.say(GRID, "wxid_resident_li", "下单 5号楼楼道灯坏了", name="李大爷")  # #2
    await sim.say(GRID, HEAD, "接单 #2")
    await sim.say(GRID, HEAD, "办结 #2 已换灯泡")                                   # resolved
    ticks = Ticks()
    scan = make_scan(sim.bot, clock=SchedulerClock(clock, sim.bot.config.policy.max_clock_jump,
                                                   ticks))
    await scan()
    before = len(sim.posts)

    clock.now = START.replace(year=2036)  # the host's clock set ten years on
    ticks.seconds += 60
    with caplog.at_level(logging.ERROR, logger="bot.service"):
        await scan()
    assert "the clock jumped" in caplog.text
    assert sim.posts[before:] == []                              # no 91 posts
    assert [t.status for t in tickets(db)] == [Status.OPEN, Status.RESOLVED]  # not closed
    assert tickets(db)[0].escalation_due_at == START + timedelta(hours=2)    # not set to 2036

    # Two hours on (the host's clock still wrong), #1 escalates as it should, once.
    clock.now += timedelta(hours=2)
    ticks.seconds += 2 * 3600
    await scan()
    assert [p.room for p in sim.posts[before:]] == [BRANCH]

    # The clock set right again: followed, and the timers go on as before.
    clock.now = START + timedelta(hours=2, minutes=2)
    ticks.seconds += 60
    await scan()
    assert [p.room for p in sim.posts[before:]] == [BRANCH]
    clock.now += timedelta(days=1)
    ticks.seconds += 86400
    await scan()
    assert [p.room for p in sim.posts[before:]] == [BRANCH, VILLAGE]


async def test_a_restart_after_two_days_down_still_catches_up_once(sim, db, clock):
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮")
    clock.advance(days=2, hours=3)
    # A new process: its scheduler clock has no earlier run to compare with.
    await make_scan(sim.bot, clock=SchedulerClock(clock, timedelta(days=1), Ticks()))()
    assert [p.room for p in sim.posts if p.text.startswith("【吹哨】")] == [BRANCH, VILLAGE, TOWNSHIP]
