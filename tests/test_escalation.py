"""吹哨 on a schedule (design §7): the pure timer rules, then the scan through the simulator with
a driven clock. Nothing sleeps: `bot.tick(now)` is the scheduler's minute."""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlmodel import select

from bot import sweeps
from bot.runtime import Bot
from bot.transports.simulator import Simulator
from flows import texts
from flows.config import DEFAULT_TIMERS, QuietHours, Timers, parse_config
from flows.escalation import EscalationClock, clock_after, plan_escalation
from flows.grouping import plan_reminders, reminder_interval
from models.db import Database
from models.tables import OutboundPost, Status, Ticket, TicketEscalation, TicketEvent

from conftest import REPO, START

GRID, BRANCH, VILLAGE, TOWNSHIP = ("shibalong-1@chatroom", "baiyi-b1@chatroom", "baiyi@chatroom",
                                   "jili@chatroom")
HEAD, BRANCH_HEAD, VILLAGE_HEAD, TOWNSHIP_HEAD = ("wxid_qiu_huanwu", "wxid_wang_guoqiang",
                                                   "wxid_li_wenhua", "wxid_chen_jie")
RESIDENT = "wxid_resident_zhang"
NORMAL, URGENT = DEFAULT_TIMERS[False], DEFAULT_TIMERS[True]
MINUTE = timedelta(minutes=1)


# -- the pure rules -------------------------------------------------------------------------------

def test_a_new_ticket_must_be_claimed_within_the_claim_timer():
    clock = clock_after("created", None, Status.OPEN, EscalationClock(None, None), NORMAL, START)
    assert clock == EscalationClock(START, START + timedelta(hours=2), START + timedelta(hours=2))


def test_claiming_switches_to_the_resolve_timer_from_the_same_start():
    opened = EscalationClock(START, START + timedelta(hours=2), START + timedelta(hours=2))
    claimed = clock_after("claimed", Status.OPEN, Status.CLAIMED, opened, NORMAL,
                          START + timedelta(minutes=30))
    assert claimed == EscalationClock(START, START + timedelta(days=5), START + timedelta(days=5))


def test_resolving_cancelling_and_closing_stop_the_clock():
    running = EscalationClock(START, START + timedelta(days=5))
    for kind, before, after in [("resolved", Status.CLAIMED, Status.RESOLVED),
                                ("cancelled", Status.OPEN, Status.CANCELLED),
                                ("closed", Status.RESOLVED, Status.CLOSED)]:
        stopped = clock_after(kind, before, after, running, NORMAL, START)
        assert stopped.due_at is None and stopped.deadline_at is None


def test_giving_back_and_reopening_restart_the_clock():
    later = START + timedelta(days=1)
    running = EscalationClock(START, START + timedelta(days=5))
    assert clock_after("given_back", Status.CLAIMED, Status.OPEN, running, URGENT, later) \
        == EscalationClock(later, later + timedelta(minutes=10), later + timedelta(minutes=10))
    assert clock_after("reopened", Status.RESOLVED, Status.CLAIMED,
                       EscalationClock(START, None), URGENT, later) \
        == EscalationClock(later, later + timedelta(hours=2), later + timedelta(hours=2))


def test_a_whistle_by_hand_gives_the_new_level_a_whole_interval():
    running = EscalationClock(START, START + timedelta(hours=2), START + timedelta(hours=2))
    later = START + timedelta(hours=1)
    whistled = clock_after("escalated", None, None, running, NORMAL, later)
    assert whistled.due_at == later + timedelta(days=1)
    assert whistled.deadline_at == START + timedelta(hours=2)  # still overdue from then on
    # Events that change nothing leave the clock alone.
    assert clock_after("progress", None, None, running, NORMAL, later) == running
    # A stopped clock stays stopped.
    assert clock_after("escalated", None, None, EscalationClock(START, None), NORMAL, later).due_at is None


def test_not_due_yet_is_nothing():
    due = START + timedelta(hours=2)
    assert plan_escalation(0, 3, due, timedelta(days=1), due - MINUTE) is None
    assert plan_escalation(0, 3, None, timedelta(days=1), due) is None


def test_due_climbs_one_level_and_waits_an_interval():
    due = START + timedelta(hours=2)
    plan = plan_escalation(0, 3, due, timedelta(days=1), due)
    assert plan.levels == (1,) and not plan.renotify
    assert plan.next_due_at == due + timedelta(days=1)


def test_a_long_outage_climbs_once_per_interval_passed_up_to_the_top():
    due = START
    every = timedelta(hours=2)
    plan = plan_escalation(0, 3, due, every, due + 2 * every + MINUTE)
    assert plan.levels == (1, 2, 3) and not plan.renotify
    assert plan.next_due_at == due + 3 * every
    beyond = plan_escalation(0, 3, due, every, due + 10 * every)
    assert beyond.levels == (1, 2, 3) and not beyond.renotify  # arriving at the top is the notice
    assert beyond.next_due_at == due + 11 * every


def test_at_the_top_the_head_is_reminded_once_per_scan():
    every = timedelta(hours=2)
    plan = plan_escalation(3, 3, START, every, START + 5 * every)
    assert plan.levels == () and plan.renotify
    assert plan.next_due_at == START + 6 * every


def test_quiet_hours_hold_what_is_due():
    assert plan_escalation(0, 3, START, timedelta(days=1), START, quiet=True) is None
    night = QuietHours(start="22:00", end="07:00")
    assert night.contain(START.replace(hour=23).time()) and night.contain(START.replace(hour=6).time())
    assert not night.contain(START.replace(hour=7).time())
    afternoon = QuietHours(start="12:00", end="14:00")
    assert afternoon.contain(START.replace(hour=13).time())
    assert not afternoon.contain(START.replace(hour=23).time())


def test_timers_per_urgency_and_category_fall_back_one_by_one():
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["policy"]["timers"] = {"urgent": {"claim_within": "15m"}}
    data["policy"]["category_timers"] = {"dispute": {"normal": {"resolve_within": "15d"}}}
    policy = parse_config(data).policy
    assert policy.timers_for("repair", True) == Timers(timedelta(minutes=15), timedelta(hours=2),
                                                       timedelta(hours=2))
    assert policy.timers_for("dispute", False) == Timers(timedelta(hours=2), timedelta(days=15),
                                                         timedelta(days=1))
    assert policy.timers_for("repair", False) == NORMAL


def test_reminder_intervals_start_at_local_midnight_and_every_interval_after():
    zone = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 11, 24, 10, 37, tzinfo=zone)
    assert reminder_interval(at, timedelta(hours=2), zone) == at.replace(minute=0)
    assert reminder_interval(at, timedelta(days=1), zone) == at.replace(hour=0, minute=0)
    assert reminder_interval(at.replace(hour=11, minute=59), timedelta(hours=2), zone) == \
        at.replace(minute=0)


def test_which_groups_reminders_are_grouped():
    plan = plan_reminders({"a": 3, "b": 2, "c": 5, "d": 1}, taken={"c"}, group_after=3,
                          grouped={"b"})
    assert plan.summarise == {"a", "b"} and plan.covered == {"c"}   # "d": as before


# -- the scan through the simulator ---------------------------------------------------------------

async def order(sim, text="下单 4号楼二单元4楼的灯不亮", **kw):
    return await sim.say(GRID, RESIDENT, text, name="张阿姨", **kw)


async def tick(sim, clock, **delta):
    """Move the clock and run what the scheduler runs; returns the posts it made."""
    now = clock.advance(**delta)
    before = len(sim.posts)
    await sim.bot.tick(now)
    return sim.posts[before:]


def escalations(db, ticket_id=1):
    with db.session() as session:
        return [(e.level, e.round, e.cause) for e in session.exec(
            select(TicketEscalation).where(TicketEscalation.ticket_id == ticket_id)
            .order_by(TicketEscalation.id)).all()]


def ticket(db, ticket_id=1) -> Ticket:
    with db.session() as session:
        return session.get(Ticket, ticket_id)


async def test_an_unclaimed_ticket_escalates_when_the_claim_timer_runs_out(sim, db, clock):
    await order(sim)
    assert await tick(sim, clock, hours=1, minutes=59) == []
    [post] = await tick(sim, clock, minutes=1)
    assert post.room == BRANCH and post.mentions == (BRANCH_HEAD,)
    assert post.text.startswith("【吹哨】#1【报修】4号楼2单元4楼")
    assert "来自：石坝垅小区第一微网格" in post.text
    assert texts.OVERDUE_UNCLAIMED.format(limit="2小时") in post.text
    assert escalations(db) == [(1, 0, "claim")]
    assert ticket(db).escalation_level == 1
    # The same minute again, and the next one: nothing more.
    assert await tick(sim, clock) == []
    assert await tick(sim, clock, minutes=1) == []


async def test_each_level_in_turn_then_reminders_at_the_top(sim, db, clock):
    await order(sim, "下单 七号楼电梯困人了，快来人")  # urgent: 10 min to claim, every 2 h
    assert ticket(db).urgent
    [branch] = await tick(sim, clock, minutes=10)
    [village] = await tick(sim, clock, hours=2)
    [township] = await tick(sim, clock, hours=2)
    assert [(p.room, p.mentions) for p in (branch, village, township)] == [
        (BRANCH, (BRANCH_HEAD,)), (VILLAGE, (VILLAGE_HEAD,)), (TOWNSHIP, (TOWNSHIP_HEAD,))]
    assert "【紧急】" in township.text and "来自：百宜社区" in township.text
    [first_reminder] = await tick(sim, clock, hours=2)
    assert first_reminder.room == TOWNSHIP and first_reminder.mentions == (TOWNSHIP_HEAD,)
    assert first_reminder.text.startswith("【再次提醒】#1【紧急】")
    assert await tick(sim, clock, hours=1) == []
    [second_reminder] = await tick(sim, clock, hours=1)
    assert escalations(db) == [(1, 0, "claim"), (2, 0, "claim"), (3, 0, "claim"),
                               (3, 1, "claim"), (3, 2, "claim")]
    with db.session() as session:
        kinds = session.exec(select(TicketEvent.kind).where(TicketEvent.ticket_id == 1)).all()
    assert kinds.count("escalated") == 3 and kinds.count("reminded") == 2


async def test_claiming_stops_the_claim_timer_and_the_resolve_timer_takes_over(sim, db, clock):
    await order(sim)
    clock.advance(hours=1)
    await sim.say(GRID, HEAD, "接单")
    assert await tick(sim, clock, hours=3) == []          # past the claim timer: claimed, quiet
    assert await tick(sim, clock, days=4, hours=19, minutes=59) == []
    [post] = await tick(sim, clock, minutes=1)            # 5 days after the request
    assert post.room == BRANCH and texts.OVERDUE_UNRESOLVED.format(limit="5天") in post.text
    assert escalations(db) == [(1, 0, "resolve")]


async def test_resolving_stops_the_clock(sim, db, clock):
    await order(sim)
    await sim.say(GRID, HEAD, "办结 #1 已修好")
    assert ticket(db).escalation_due_at is None
    assert await tick(sim, clock, days=30) == [] or ticket(db).status == Status.CLOSED
    assert escalations(db) == []


async def test_giving_back_restarts_the_claim_timer(sim, db, clock):
    await order(sim)
    clock.advance(hours=1)
    await sim.say(GRID, HEAD, "接单")
    clock.advance(hours=5)
    await sim.say(GRID, HEAD, "退单 #1 不属于本网格")
    assert await tick(sim, clock, hours=1, minutes=59) == []
    [post] = await tick(sim, clock, minutes=1)
    assert post.room == BRANCH and texts.OVERDUE_UNCLAIMED.format(limit="2小时") in post.text


async def test_a_whistle_by_hand_takes_the_level_and_the_timer_goes_on_from_there(sim, db, clock):
    await order(sim)
    clock.advance(minutes=30)
    await sim.say(GRID, HEAD, "吹哨 #1 需要社区协调")
    assert escalations(db) == [(1, 0, "whistle")]
    assert await tick(sim, clock, hours=2) == []          # the old claim deadline: not again
    [post] = await tick(sim, clock, hours=22)             # a whole interval after the whistle
    assert post.room == VILLAGE and escalations(db)[-1] == (2, 0, "claim")


async def test_a_ticket_due_while_the_bot_was_down_lands_where_it_should_be(sim, db, clock):
    await order(sim)
    # Down for two days and three hours: due at +2 h, then +1 d, +2 d: three levels passed.
    posts = await tick(sim, clock, days=2, hours=3)
    assert [p.room for p in posts] == [BRANCH, VILLAGE, TOWNSHIP]
    assert ticket(db).escalation_level == 3
    assert await tick(sim, clock, minutes=1) == []
    # A restarted bot (a new process on the same database) does not post them again.
    again = Simulator(sim.network, clock=clock)
    again.attach(Bot(sim.bot.config, db, again, sim.network, clock=clock))
    await again.bot.tick(clock.advance(minutes=1))
    assert again.posts == []


async def test_quiet_hours_hold_normal_tickets_and_let_urgent_ones_through(config, network, db, clock):
    quiet_config = config.model_copy(update={"policy": config.policy.model_copy(
        update={"quiet_hours": QuietHours(start="22:00", end="07:00")})})
    sim = Simulator(network, clock=clock)
    sim.attach(Bot(quiet_config, db, sim, network, clock=clock))
    clock.now = clock.now.replace(hour=21)
    await order(sim)                                      # normal: due at 23:00
    await order(sim, "下单 5号楼煤气味很重")               # urgent: due at 21:10
    assert [p.text[:10] for p in await tick(sim, clock, hours=2)] == ["【吹哨】#2【紧急】"]
    night = await tick(sim, clock, hours=7, minutes=59)          # by 06:59
    assert night and all(p.text.startswith(("【吹哨】#2", "【再次提醒】#2")) for p in night)
    [held] = [p for p in await tick(sim, clock, minutes=1) if "#1" in p.text]   # 07:00
    assert held.text.startswith("【吹哨】#1【") and held.room == BRANCH


async def test_a_ticket_in_a_branch_group_climbs_from_there(sim, db, clock):
    await sim.say(BRANCH, RESIDENT, "下单 村道上有个大坑", name="张阿姨")
    assert ticket(db).node_id == "baiyi-b1"
    [post] = await tick(sim, clock, hours=2)
    assert post.room == VILLAGE


async def test_a_ticket_another_scan_took_is_skipped_and_the_rest_of_its_batch_still_goes(
        sim, db, clock):
    for number in range(3):
        await sim.say(GRID, RESIDENT, f"下单 4号楼{number + 1}室门口灯不亮", name="张阿姨")
    later = clock.advance(hours=2, minutes=1)
    # As in a race with another scan: #2's escalation is recorded while #2 still reads as due.
    with db.session() as session:
        session.add(TicketEscalation(ticket_id=2, level=1, cause="claim", at=later))
    posts = await tick(sim, clock)
    assert sorted(p.text[:7] for p in posts) == ["【吹哨】#1【", "【吹哨】#3【"]
    with db.session() as session:
        levels = dict(session.exec(select(Ticket.id, Ticket.escalation_level)).all())
    assert levels == {1: 1, 2: 0, 3: 1}


def test_the_scan_reads_due_tickets_through_their_index_not_every_open_ticket(db):
    query = sweeps.due_tickets(START)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":  # no statistics: the planner goes by the query alone
            plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")  # an empty table would be scanned
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))
    # Searched by due time: the cost follows the due tickets (ordered by id, it read them all).
    # SQLite: `SEARCH ticket USING INDEX ix_…`; PostgreSQL: `Index Scan using ix_… on ticket` or
    # `Bitmap Index Scan on ix_…`, whichever its planner prefers: never a scan of the table.
    assert "ix_ticket_escalation_due_at" in plan and "Seq Scan" not in plan and "SCAN ticket" not in plan


async def test_a_catch_up_posts_once_into_each_group_however_its_tickets_fall_in_time(
        sim, db, clock, monkeypatch):
    # Due in turns from two grids under two branches, more than a batch in all: the batches
    # take a subtree's tickets together, so each branch group gets one post for its three.
    monkeypatch.setattr(sweeps, "BATCH", 3)
    for number in range(3):
        for grid in (GRID, "hehua-1@chatroom"):
            await sim.say(grid, f"{RESIDENT}_{grid}_{number}", f"下单 {number + 1}号楼门口灯不亮",
                          name="张阿姨")
            clock.advance(minutes=1)
    posts = await tick(sim, clock, hours=2)
    escalated = [post for post in posts if post.text.startswith("【吹哨】")]
    assert sorted(post.room for post in escalated) == ["baiyi-b1@chatroom", "hehua-b1@chatroom"]
    assert all(post.text.startswith("【吹哨】3 张单升级到本群") for post in escalated)
    with db.session() as session:
        assert set(session.exec(select(Ticket.escalation_level)).all()) == {1}


def test_due_tickets_are_batched_by_subtree_then_number(network, monkeypatch):
    monkeypatch.setattr(sweeps, "BATCH", 2)
    due = [(1, "shibalong-1"), (2, "hehua-1"), (3, "gone-from-the-network"), (4, "shibalong-2"),
           (5, "hehua-1"), (6, "shibalong-1")]
    assert sweeps.in_batches(network, due) == [[1, 6], [4, 2], [5, 3]]


def test_two_scans_at_once_post_each_escalation_once(config, network, tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    setup = Database(url)
    sim = Simulator(network, clock=clock)
    sim.attach(Bot(config, setup, sim, network, clock=clock))

    async def orders():
        for number in range(40):
            # Forty households (one member's forty would stop at policy.request_limit).
            await sim.say(GRID, f"{RESIDENT}_{number}", f"下单 4号楼{number + 1}室门口灯不亮",
                          name="张阿姨")
    asyncio.run(orders())
    later = clock.advance(days=2, hours=3)

    # Four bots on their own connections scan the same due tickets at the same instant.
    bots = [Bot(config, Database(url, migrate=False), Simulator(network, clock=clock), network,
                clock=clock) for _ in range(4)]
    scan_at_once(bots, later)
    # Whatever a scan skipped because another held the lock, the next minute picks up.
    asyncio.run(bots[0].tick(later + MINUTE))

    with setup.session() as session:
        rows = session.exec(select(TicketEscalation)).all()
        escalation_posts = session.exec(
            select(OutboundPost).where(OutboundPost.room != GRID)).all()
        levels = session.exec(select(Ticket.escalation_level)).all()
    assert len(rows) == 40 * 3 and len({(r.ticket_id, r.level, r.round) for r in rows}) == 120
    # Each escalation posted once: every ticket once in each group above, in grouped posts.
    posted = Counter((post.room, number) for post in escalation_posts
                     for number in re.findall(r"#(\d+)【", post.text))
    assert len(posted) == 120 and set(posted.values()) == {1}
    assert set(levels) == {3}
    # …and each of them went out through exactly one bot's transport.
    sent = [post.id for bot in bots for post in bot.transport.posts]
    # (Some are the notices of the 40 orders that pacing held back in the micro-grid group.)
    assert len(sent) == len(set(sent)) and {p.id for p in escalation_posts} <= set(sent)
    for database in [setup, *(bot.db for bot in bots)]:
        database.dispose()


@pytest.mark.parametrize("minutes", [0, 1])
async def test_a_claim_in_the_same_minute_as_the_deadline(sim, db, clock, minutes):
    await order(sim)
    clock.advance(hours=2, minutes=-minutes)
    await sim.say(GRID, HEAD, "接单")
    assert await tick(sim, clock) == []


# -- many tickets waiting at the top: one grouped reminder per interval (policy.reminders) --------

async def urgent_orders(sim, count, first=0):
    """`count` urgent requests from as many households, each with a room and a phone number."""
    for number in range(first, first + count):
        await sim.say(GRID, f"{RESIDENT}_{number}",
                      f"下单 {number + 1}号楼2单元50{number}室电梯困人了，快来人，电话1391234567{number}",
                      name="张阿姨")


def reminded(db):
    """(ticket, reminder round) of every reminder recorded, and each ticket's `reminded` events."""
    with db.session() as session:
        rounds = sorted((e.ticket_id, e.round) for e in session.exec(
            select(TicketEscalation).where(TicketEscalation.round > 0)).all())
        events = Counter(session.exec(select(TicketEvent.ticket_id)
                                      .where(TicketEvent.kind == "reminded")).all())
    return rounds, events


async def seven_at_the_top(sim, db, clock):
    """Four urgent tickets at 09:00 and three at 09:30, escalated to the township (the top):
    its first reminders fall due at 15:10 (#1–#4) and 15:40 (#5–#7)."""
    await urgent_orders(sim, 4)
    await tick(sim, clock, minutes=10)                      # 09:10: #1–#4 to the branch
    clock.advance(minutes=20)
    await urgent_orders(sim, 3, first=4)                    # 09:30
    for step in ({"minutes": 10}, {"hours": 1, "minutes": 30}, {"minutes": 30},
                 {"hours": 1, "minutes": 30}):              # 09:40, 11:10, 11:40, 13:10
        await tick(sim, clock, **step)
    [arrived] = await tick(sim, clock, minutes=30)          # 13:40: #5–#7 reach the top
    assert arrived.text.startswith("【吹哨】3 张单升级到本群") and arrived.room == TOWNSHIP
    assert {ticket(db, n).escalation_level for n in range(1, 8)} == {3}


async def test_many_tickets_at_the_top_get_one_reminder_per_interval(sim, db, clock):
    await seven_at_the_top(sim, db, clock)
    # 15:10, the interval 14:00–16:00: #1–#4 due, at least policy.reminders.group_after (3).
    [post] = await tick(sim, clock, hours=1, minutes=30)
    assert post.room == TOWNSHIP and post.mentions == (TOWNSHIP_HEAD,)
    lines = post.text.splitlines()
    assert lines[0].startswith("【再次提醒】本群仍有 7 张单未接单或未办结（其中紧急 7 张）")
    assert lines[0].endswith("等待最久的 5 张：")
    # The oldest five, oldest first (#5–#7 came at the same minute: by number), how late each.
    assert [re.match(r"#(\d+)", line)[1] for line in lines[1:6]] == ["1", "2", "3", "4", "5"]
    assert lines[1].startswith("#1【紧急】【") and lines[1].endswith("（超期6小时）")
    assert lines[5].endswith("（超期5小时）")   # #5's deadline was 09:40
    assert "「待办」" in lines[-1]
    # Each ticket's reminder recorded as before: its round, its event, its next due time.
    assert reminded(db) == ([(n, 1) for n in range(1, 5)], Counter({n: 1 for n in range(1, 5)}))
    assert ticket(db, 1).escalation_due_at == clock.now + timedelta(hours=2)

    # 15:40: #5–#7 are reminded too (recorded), but the interval's post went already.
    assert await tick(sim, clock, minutes=30) == []
    rounds, events = reminded(db)
    assert rounds == [(n, 1) for n in range(1, 8)] and events == Counter({n: 1 for n in range(1, 8)})
    assert ticket(db, 5).escalation_due_at == clock.now + timedelta(hours=2)
    assert await tick(sim, clock, minutes=1) == []

    # 17:10, the next interval: one post again; 17:40 nothing.
    [again] = await tick(sim, clock, hours=1, minutes=29)
    assert again.room == TOWNSHIP and again.mentions == (TOWNSHIP_HEAD,)
    assert again.text.startswith("【再次提醒】本群仍有 7 张单")
    assert await tick(sim, clock, minutes=30) == []
    rounds, events = reminded(db)
    assert rounds == sorted((n, r) for n in range(1, 8) for r in (1, 2))
    assert events == Counter({n: 2 for n in range(1, 8)})
    # The history of each ticket still reads reminder by reminder.
    with db.session() as session:
        notes = session.exec(select(TicketEvent.note).where(
            TicketEvent.ticket_id == 6, TicketEvent.kind == "reminded")).all()
    assert notes == ["集里街道：超过10分钟未接单"] * 2


async def test_the_grouped_reminder_is_masked_above_the_micro_grid(sim, db, clock):
    await seven_at_the_top(sim, db, clock)
    [post] = await tick(sim, clock, hours=1, minutes=30)
    assert post.text.startswith("【再次提醒】本群仍有 7 张单")
    # No room numbers, no phone numbers, no reporter's name: only the building and unit.
    assert not re.search(r"50\d", post.text) and "1391234567" not in post.text
    assert "张阿姨" not in post.text and "1号楼2单元" in post.text
    assert ticket(db, 1).room == "500"   # parsed, and kept where the ticket is seen in full


async def test_the_grouped_reminder_is_a_post_the_bot_knows(sim, db, clock):
    """Every line of it is one of the bot's phrases (the property test's rule), the count of
    urgent tickets too."""
    from test_dispatch_properties import KNOWN_POST

    await urgent_orders(sim, 4)
    for hours in (0, 2, 2):                                 # 09:10, 11:10, 13:10: at the top
        await tick(sim, clock, hours=hours, minutes=10 if hours == 0 else 0)
    [post] = await tick(sim, clock, hours=2)                # 15:10: four due, grouped
    assert "（其中紧急 4 张）" in post.text.splitlines()[0]
    assert KNOWN_POST.fullmatch(post.text), post.text


async def test_a_few_tickets_at_the_top_are_reminded_each_as_before(sim, db, clock):
    await urgent_orders(sim, 2)
    for hours in (0, 2, 2):                                 # 09:10, 11:10, 13:10: at the top
        await tick(sim, clock, hours=hours, minutes=10 if hours == 0 else 0)
    [post] = await tick(sim, clock, hours=2)                # 15:10: two due, under group_after
    assert post.room == TOWNSHIP and post.mentions == (TOWNSHIP_HEAD,)
    assert post.text.startswith("【再次提醒】2 张单在本群仍未处理")
    assert [re.match(r"#(\d+)", line)[1] for line in post.text.splitlines()[1:]] == ["1", "2"]
    [alone] = await tick(sim, clock, hours=2)               # 17:10: the next reminders
    assert alone.text.startswith("【再次提醒】2 张单在本群仍未处理")
    assert reminded(db)[0] == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_two_scans_at_once_post_the_grouped_reminder_once(config, network, tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    setup = Database(url)
    sim = Simulator(network, clock=clock)
    sim.attach(Bot(config, setup, sim, network, clock=clock))
    asyncio.run(urgent_orders(sim, 12))
    asyncio.run(sim.bot.tick(clock.advance(hours=4, minutes=10)))   # 13:10: at the top
    later = clock.advance(hours=2)                                  # 15:10: all twelve due

    bots = [Bot(config, Database(url, migrate=False), Simulator(network, clock=clock), network,
                clock=clock) for _ in range(4)]
    scan_at_once(bots, later)
    asyncio.run(bots[0].tick(later + MINUTE))

    with setup.session() as session:
        reminders = session.exec(select(OutboundPost).where(
            OutboundPost.room == TOWNSHIP, OutboundPost.text.startswith("【再次提醒】"))).all()
    assert len(reminders) == 1 and reminders[0].text.startswith("【再次提醒】本群仍有 12 张单")
    rounds, events = reminded(setup)
    assert rounds == [(n, 1) for n in range(1, 13)] and set(events.values()) == {1}
    for database in [setup, *(bot.db for bot in bots)]:
        database.dispose()


def scan_at_once(bots, at) -> None:
    """Each bot scans at `at` in a thread of its own, all starting at the same instant."""
    start = threading.Barrier(len(bots))

    def scan(bot):
        start.wait()
        asyncio.run(bot.tick(at))

    threads = [threading.Thread(target=scan, args=(bot,)) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
