"""A stored message whose handling failed is tried again with backoff by the scheduler's run,
set aside as a dead letter after the last try, shown to the operator (`inbox_health`, `gridbot
inbox dead`) and tried again on their word (`gridbot inbox retry ID`)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import httpx
from sqlmodel import select

from api.app import create_app

from bot.dispatch import MAX_ATTEMPTS, RETRY_WAITS, Dispatcher
from bot.inbox import dead_letters, inbox_health, revive
from bot.service import make_scan
from bot.transport import IncomingMessage
from conftest import REPO
from models.tables import InboundMessage, Ticket

GRID = "shibalong-1@chatroom"


def order(clock, id: str = "m1", at: datetime | None = None) -> IncomingMessage:
    return IncomingMessage(id=id, room=GRID, sender_id="wxid_resident_zhang",
                           sender_name="张阿姨", text="下单 4号楼二单元4楼的灯不亮",
                           at=at or clock())


def broken(monkeypatch, failures: list[str]):
    """Acting on a message fails (a bug, a full disk) until the list is emptied."""
    acting = Dispatcher._act

    def failing(self, session, message, truncated=False):
        if failures:
            raise OSError(failures[0])
        return acting(self, session, message, truncated)

    monkeypatch.setattr(Dispatcher, "_act", failing)


def stored(db, id: str = "m1") -> InboundMessage:
    with db.session() as session:
        return session.exec(select(InboundMessage).where(InboundMessage.message_id == id)).one()


def tickets(db) -> list[Ticket]:
    with db.session() as session:
        return list(session.exec(select(Ticket)).all())


async def test_a_failed_message_is_tried_again_by_the_scheduler_after_a_wait(sim, db, clock,
                                                                             monkeypatch):
    failures = ["database or disk is full"]
    broken(monkeypatch, failures)
    assert await sim.bot.receive(order(clock)) is None and sim.posts == []
    row = stored(db)
    assert (row.handled_at, row.attempts, row.retry_at) == (None, 1, clock() + RETRY_WAITS[0])
    assert row.last_error == "OSError: database or disk is full"
    assert inbox_health(db) == {"dead": 0, "retrying": 1}

    failures.clear()  # the disk has room again
    scan = make_scan(sim.bot, clock=clock)
    await scan()  # not yet due
    assert tickets(db) == []
    clock.advance(minutes=1)
    await scan()
    assert [t.source_message_id for t in tickets(db)] == ["m1"]
    assert [p.reply_to for p in sim.posts] == ["m1"]
    assert stored(db).handled_at is not None and inbox_health(db) == {"dead": 0, "retrying": 0}
    await scan()  # handled: never again
    assert len(tickets(db)) == 1 and len(sim.posts) == 1


async def test_a_message_stored_by_a_process_that_stopped_is_acted_on_at_start(sim, db, clock,
                                                                               monkeypatch):
    # Stored, then the process died before acting on it (no failure recorded).
    monkeypatch.setattr(Dispatcher, "_act_together", lambda self, to_act: {})
    monkeypatch.setattr(Dispatcher, "_act_alone", lambda self, one: {})
    await sim.bot.receive(order(clock))
    monkeypatch.undo()
    clock.advance(minutes=5)  # the restart
    await make_scan(sim.bot, clock=clock)()
    assert [t.source_message_id for t in tickets(db)] == ["m1"]


async def test_after_the_last_try_it_is_a_dead_letter_until_the_operator_retries(
        sim, db, clock, monkeypatch):
    failures = ["a bug"]
    broken(monkeypatch, failures)
    await sim.bot.receive(order(clock))
    scan = make_scan(sim.bot, clock=clock)
    for wait in RETRY_WAITS:  # 1 min, 5 min, 30 min, 2 h
        clock.advance(seconds=wait.total_seconds() - 1)
        await scan()
        assert stored(db).attempts == RETRY_WAITS.index(wait) + 1  # not due yet
        clock.advance(seconds=1)
        await scan()
    row = stored(db)
    assert (row.attempts, row.dead_at, row.retry_at) == (MAX_ATTEMPTS, clock(), None)
    assert inbox_health(db) == {"dead": 1, "retrying": 0}
    clock.advance(days=30)
    await scan()
    assert stored(db).attempts == MAX_ATTEMPTS  # set aside: no more tries
    # Handed over again by the gateway: still set aside, not acted on twice later.
    await sim.bot.receive(order(clock))
    assert stored(db).attempts == MAX_ATTEMPTS and tickets(db) == []

    rows, total = dead_letters(db)
    assert total == 1 and [r.message_id for r in rows] == ["m1"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim.bot)),
                                 base_url="http://api") as client:
        ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["dead_messages"] == 1  # seen, not unready
    failures.clear()  # the bug fixed
    assert revive(db, "m1", clock()) and not revive(db, "m1", clock())
    await scan()
    assert [t.source_message_id for t in tickets(db)] == ["m1"]
    assert inbox_health(db) == {"dead": 0, "retrying": 0}


def test_a_message_dated_in_the_year_9999_is_acted_on_at_once(sim, db, clock, config):
    far = datetime.fromisoformat("9999-12-31T23:00:00+08:00")
    [notice] = sim.bot.dispatcher.handle(order(clock, at=far))
    assert notice.text.startswith("已受理 #1")
    row = stored(db)
    assert row.handled_at is not None and row.sent_at == far  # the sender's claim is kept
    [ticket] = tickets(db)
    claim_within = config.policy.timers_for(ticket.category, ticket.urgent).claim_within
    assert (ticket.created_at, ticket.escalation_due_at) == (clock(), clock() + claim_within)


def gridbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], text=True,
                          capture_output=True, cwd=REPO, timeout=120)


def test_the_operator_lists_and_retries_dead_letters_from_the_shell(tmp_path, config, network):
    from models.db import Database

    url = f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    db = Database(url)
    now = datetime.now(timezone.utc)
    dispatcher = Dispatcher(config, db, network, clock=lambda: now)
    acting = Dispatcher._act
    Dispatcher._act = lambda self, session, message, truncated=False: 1 / 0
    try:
        dispatcher.handle(order(lambda: now, id="dead-1"))
        for wait in RETRY_WAITS:
            now += wait
            dispatcher.retry_due(now)
    finally:
        Dispatcher._act = acting
    db.dispose()
    config_path = str(REPO / "config.yaml")
    listed = gridbot("inbox", "dead", "--config", config_path, "--db", url)
    assert listed.returncode == 0, listed.stderr
    assert "dead-1" in listed.stdout and "ZeroDivisionError" in listed.stdout
    assert "1 of 1 dead letter(s)" in listed.stderr
    retried = gridbot("inbox", "retry", "dead-1", "--config", config_path, "--db", url)
    assert retried.returncode == 0, retried.stderr
    assert "acted on" in retried.stdout
    again = gridbot("inbox", "retry", "dead-1", "--config", config_path, "--db", url)
    assert again.returncode == 2 and "no dead letter" in again.stderr
    db = Database(url, migrate=False)
    assert [t.source_message_id for t in tickets(db)] == ["dead-1"]
    db.dispose()


async def test_gridbot_chat_takes_a_message_dated_9999_and_goes_on_at_the_script_time(db, config):
    import io
    import json
    from zoneinfo import ZoneInfo

    from bot.chat_jsonl import JsonLinesOutput, play
    from bot.runtime import Bot

    lines = [{"tick": "2026-11-24T08:59:00+08:00"},
             {"id": "far", "room": GRID, "sender": "wxid_a", "text": "下单 1号楼楼道灯坏了",
              "at": "9999-12-31T23:00:00+08:00"},
             {"id": "near", "room": GRID, "sender": "wxid_b", "text": "下单 2号楼楼道灯坏了",
              "at": "2026-11-24T09:00:00+08:00"},
             {"tick": "9999-12-31T23:00:00+08:00"},
             {"tick": "2026-11-24T11:01:00+08:00"}]
    out, err = io.StringIO(), io.StringIO()
    bad = await play(Bot(config, db, JsonLinesOutput(out)), [json.dumps(line) for line in lines],
                     err, ZoneInfo("Asia/Shanghai"))
    posts = [json.loads(line) for line in out.getvalue().splitlines()]
    assert bad == 1 and err.getvalue() == "line 4: tick: the year 9999 is too far ahead\n"
    assert [t.source_message_id for t in tickets(db)] == ["far", "near"]
    # Both on the script's time: received at 08:59 and 09:00, escalated two hours on.
    [whistle] = [p["text"] for p in posts if p["text"].startswith("【吹哨】")]
    assert whistle.startswith("【吹哨】2 张单") and "#1" in whistle and "#2" in whistle
    assert inbox_health(db) == {"dead": 0, "retrying": 0}
