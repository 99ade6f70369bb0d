"""Heads correct the machine in chat (改类, 改紧急, 改一般); the corrections become labelled data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from flows import lifecycle, texts
from flows.commands import read_category
from flows.config import Timers
from flows.escalation import EscalationClock
from models.tables import Status, Ticket, TicketEscalation, TicketEvent
from test_cli import gridbot, jsonl

GRID = "shibalong-1@chatroom"
BRANCH = "baiyi-b1@chatroom"
OTHER_GRID = "shibalong-2@chatroom"
HEAD, DEPUTY, BRANCH_HEAD = "wxid_qiu_huanwu", "wxid_zhou_min", "wxid_wang_guoqiang"
SIBLING_HEAD = "wxid_liu_jianguo"
RESIDENT = "wxid_resident_zhang"


def ticket(db, number=1) -> Ticket:
    with db.session() as session:
        return session.exec(select(Ticket).where(Ticket.id == number)).one()


def events(db, number=1) -> list[TicketEvent]:
    with db.session() as session:
        return list(session.exec(select(TicketEvent).where(TicketEvent.ticket_id == number)
                                 .order_by(TicketEvent.id)))


async def order(sim, text="下单 4栋2单元楼道灯不亮"):
    return await sim.say(GRID, RESIDENT, text, name="张阿姨")


@pytest.mark.parametrize("written, code", [
    ("报修", "repair"), ("repair", "repair"), ("REPAIR", "repair"), ("安全隐患", "safety"),
    ("为安全隐患", "safety"), ("改为 治安", "security"), ("【矛盾纠纷】", "dispute"), ("纠纷", "dispute"),
    ("城管", "order"), ("市容秩序", "order"), ("代办服务", "service"), ("政策咨询", "consult"),
    ("意见建议", "suggestion"), ("環境衛生", "sanitation"), ("关爱帮扶", "care"), ("", None),
    ("不知道", None),
])
def test_the_category_a_head_names(written, code):
    assert read_category(written) == code


async def test_a_head_recategorizes_with_an_event_and_an_answer(sim, db):
    await order(sim)
    assert ticket(db).category == "repair"
    [answer] = await sim.say(GRID, HEAD, "改类 #1 安全隐患")
    assert answer.text == texts.RECATEGORIZED.format(number=1, handler="邱煥武",
                                                     category="安全隐患", previous="报修")
    assert ticket(db).category == "safety"
    [event] = [e for e in events(db) if e.kind == "recategorized"]
    assert (event.actor_id, event.note) == (HEAD, "repair → safety")
    [query] = await sim.say(GRID, HEAD, "查询 #1")
    assert "改类 邱煥武：报修 → 安全隐患" in query.text and "【安全隐患】" in query.text


@pytest.mark.parametrize("text", ["改类 #1 治安", "改类#1：治安", "改类（#1）治安", "改類 #1 治安",
                                  "改类 1号单 security", "改类 #1 为治安"])
async def test_recategorize_forms(sim, db, text):
    await order(sim)
    [answer] = await sim.say(GRID, HEAD, text)
    assert answer.text.startswith("#1 已由 邱煥武 改为【治安】")
    assert ticket(db).category == "security"


async def test_who_may_correct(sim, db):
    await order(sim)
    refusal = texts.NOT_A_CORRECTOR.format(number=1, action="改类")
    assert [p.text for p in await order(sim, "改类 #1 治安")] == [refusal]          # the reporter
    # The head of a sibling grid is outside #1's reach: told what is told of a missing number.
    assert [p.text for p in await sim.say(OTHER_GRID, SIBLING_HEAD, "改类 #1 治安")] == [
        texts.TICKET_NOT_FOUND.format(number=1)]
    assert ticket(db).category == "repair"
    # The grid's deputy, and a head above it, may.
    assert (await sim.say(GRID, DEPUTY, "改类 #1 治安"))[0].text.startswith("#1 已由 周敏 改为")
    assert (await sim.say(BRANCH, BRANCH_HEAD, "改类 #1 报修"))[0].text.startswith("#1 已由 王国强 改为")
    assert [e.note for e in events(db) if e.kind == "recategorized"] == [
        "repair → security", "security → repair"]


async def test_what_cannot_be_done_is_said(sim, db):
    await order(sim)
    names = "、".join(texts.CATEGORY_NAMES.values())
    assert [p.text for p in await sim.say(GRID, HEAD, "改类 #1")] == [
        texts.CATEGORY_NEEDED.format(number=1, names=names)]
    assert [p.text for p in await sim.say(GRID, HEAD, "改类 #1 外星人")] == [
        texts.UNKNOWN_CATEGORY.format(name="外星人", names=names)]
    assert [p.text for p in await sim.say(GRID, HEAD, "改类 #1 报修")] == [
        texts.ALREADY_CATEGORY.format(number=1, category="报修")]
    assert [p.text for p in await sim.say(GRID, HEAD, "改一般 #1")] == [
        texts.ALREADY_URGENCY.format(number=1, urgency="一般")]
    assert [p.text for p in await sim.say(GRID, HEAD, "改紧急")] == [
        texts.NUMBER_NEEDED.format(example=texts.EXAMPLES["改紧急"])]
    assert [p.text for p in await sim.say(GRID, HEAD, "改紧急 #9")] == [
        texts.TICKET_NOT_FOUND.format(number=9)]
    assert [e.kind for e in events(db)] == ["created"]


async def test_marking_urgent_brings_the_escalation_forward(sim, db, clock):
    await order(sim)
    created = ticket(db)
    assert not created.urgent
    assert created.escalation_due_at == created.created_at + timedelta(hours=2)
    clock.advance(minutes=5)
    [answer] = await sim.say(GRID, HEAD, "改紧急 #1", at=clock())
    assert answer.text == texts.URGENCY_CHANGED.format(number=1, handler="邱煥武",
                                                       urgency="紧急", previous="一般")
    urgent = ticket(db)
    # Urgent: claim within 10 minutes of the request, not 2 hours.
    assert urgent.urgent and urgent.escalation_due_at == created.created_at + timedelta(minutes=10)
    assert urgent.deadline_at == created.created_at + timedelta(minutes=10)
    [event] = [e for e in events(db) if e.kind == "urgency_changed"]
    assert event.note == "normal → urgent"
    # At the next scan past 10 minutes it goes up one level.
    clock.advance(minutes=6)
    await sim.bot.tick(clock())
    with db.session() as session:
        assert [e.level for e in session.exec(select(TicketEscalation))] == [1]
    # Marked back to normal: the claim limit is two hours from the request again.
    [back] = await sim.say(BRANCH, BRANCH_HEAD, "改一般 #1", at=clock())
    assert back.text.startswith("#1 已由 王国强 改为一般")
    normal = ticket(db)
    assert normal.deadline_at == created.created_at + timedelta(hours=2)
    assert normal.escalation_due_at > clock()


async def test_a_late_correction_escalates_once_not_all_the_way(sim, db, clock):
    await order(sim)
    clock.advance(hours=1, minutes=50)
    await sim.say(GRID, HEAD, "改紧急 #1", at=clock())
    assert ticket(db).escalation_due_at == clock()   # due now: one level at the next scan
    await sim.bot.tick(clock() + timedelta(minutes=1))
    with db.session() as session:
        assert [e.level for e in session.exec(select(TicketEscalation))] == [1]


async def test_a_claimed_ticket_marked_urgent_must_be_resolved_sooner(sim, db, clock):
    await order(sim)
    await sim.say(GRID, HEAD, "接单")
    assert ticket(db).deadline_at == ticket(db).created_at + timedelta(days=5)
    await sim.say(GRID, HEAD, "改紧急 #1")
    assert ticket(db).deadline_at == ticket(db).created_at + timedelta(hours=2)
    await sim.say(GRID, HEAD, "办结 #1 已修好")
    [answer] = await sim.say(GRID, HEAD, "改一般 #1")   # resolved: a label only, no timer
    assert answer.text == texts.URGENCY_CHANGED_CLOSED.format(number=1, handler="邱煥武",
                                                              urgency="一般", previous="紧急")
    assert ticket(db).escalation_due_at is None


def test_retimed_keeps_the_levels_climbed_and_never_falls_due_in_the_past():
    start = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
    normal = Timers(timedelta(hours=2), timedelta(days=5), timedelta(days=1))
    urgent = Timers(timedelta(minutes=10), timedelta(hours=2), timedelta(hours=2))
    # Open, escalated once by the timer: due one escalate_every after its deadline.
    clock = EscalationClock(start, start + timedelta(hours=2, days=1), start + timedelta(hours=2))
    now = start + timedelta(hours=3)
    after = lifecycle.retimed(clock, Status.OPEN, normal, urgent, now)
    assert after.deadline_at == start + timedelta(minutes=10)
    # One level climbed: due one (new) escalate_every past the new deadline, 03:10, which is
    # past at 04:00: due now, so the next scan climbs one level, not several.
    assert after.due_at == now
    later = start + timedelta(minutes=1)
    fresh = lifecycle.retimed(EscalationClock(start, start + timedelta(hours=2),
                                              start + timedelta(hours=2)),
                              Status.OPEN, normal, urgent, later)
    assert fresh.due_at == fresh.deadline_at == start + timedelta(minutes=10)
    stopped = EscalationClock(start, None, None)
    assert lifecycle.retimed(stopped, Status.RESOLVED, normal, urgent, now) == stopped


# ---- gridbot parse --corrections --------------------------------------------------------------

LABEL_KEYS = ["text", "is_request", "category", "urgent", "building", "unit", "floor", "room",
              "description"]


async def test_parse_corrections_writes_labelled_lines_and_a_report(sim, db):
    await order(sim, "下单 4栋2单元楼道里有人飞线充电")   # never corrected: not in the data
    await order(sim, "下单 3栋门口下水道堵了")
    await order(sim, "下单 2栋楼下有人吵架")
    machine = {number: ticket(db, number).category for number in (2, 3)}
    other = {number: "care" if machine[number] != "care" else "order" for number in (2, 3)}
    await sim.say(GRID, HEAD, f"改类 #3 {texts.CATEGORY_NAMES[other[3]]}")
    await sim.say(GRID, HEAD, "改紧急 #2" if not ticket(db, 2).urgent else "改一般 #2")
    await sim.say(GRID, HEAD, f"改类 #2 {texts.CATEGORY_NAMES[other[2]]}")
    await sim.say(GRID, HEAD, f"改类 #2 {other[2] == 'care' and '报修' or '治安'}")
    await order(sim, "改类 #1 报修")   # refused: no correction
    final_2 = ticket(db, 2)

    result = gridbot("parse", "--corrections", "--db", db.url)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(row) for row in rows] == [LABEL_KEYS] * 2
    drain, quarrel = rows
    assert drain == {"text": "下单 3栋门口下水道堵了", "is_request": True,
                     "category": final_2.category, "urgent": final_2.urgent,
                     "building": final_2.building, "unit": final_2.unit, "floor": final_2.floor,
                     "room": final_2.room, "description": "3栋门口下水道堵了"}
    assert final_2.category in ("repair", "security")
    assert (quarrel["text"], quarrel["category"]) == ("下单 2栋楼下有人吵架", other[3])

    report = gridbot("parse", "--corrections", "--report", "--db", db.url)
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0] == "corrections: 2 ticket(s), 2 category, 1 urgency"
    assert any(line.split()[0] == machine[3] and f"→ {other[3]} 1" in line for line in lines)
    assert any(line.split()[0] == machine[2] and f"→ {final_2.category} 1" in line
               for line in lines)
    assert "urgent, machine → head:" in lines


def test_parse_corrections_on_an_empty_database_and_bad_combinations(tmp_path):
    db = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    missing = gridbot("parse", "--corrections", "--db", db)   # reading makes no database
    assert missing.returncode == 2 and "gridbot db upgrade" in missing.stderr
    assert not (tmp_path / "empty.sqlite3").exists()
    assert gridbot("db", "upgrade", "--db", db).returncode == 0
    empty = gridbot("parse", "--corrections", "--db", db)
    assert (empty.returncode, empty.stdout) == (0, "")
    report = gridbot("parse", "--corrections", "--report", "--db", db)
    assert report.stdout.startswith("corrections: 0 ticket(s)")
    mixed = gridbot("parse", "--corrections", "--jsonl", "--db", db)
    assert mixed.returncode == 2 and "--corrections" in mixed.stderr


def test_parse_jsonl_keys_are_unchanged():
    result = gridbot("parse", "--jsonl", stdin=jsonl({"text": "下单 4号楼二单元4楼的灯不亮"},
                                                     {"text": "收到"}))
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(row) for row in rows] == [LABEL_KEYS[1:]] * 2
