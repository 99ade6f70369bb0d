"""Messages that arrive together (many groups talking at once) are acted on together, in order of
arrival, each once; a failure of one leaves only that one unhandled."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlmodel import select

from bot.dispatch import Dispatcher
from bot.transport import IncomingMessage
from models.tables import InboundMessage, Ticket

GRID, OTHER_GRID = "shibalong-1@chatroom", "hehua-1@chatroom"
HEAD = "wxid_qiu_huanwu"


def message(clock, number: int, text: str, room: str = GRID, sender: str = "wxid_resident") -> IncomingMessage:
    return IncomingMessage(id=f"m{number}", room=room, sender_id=sender, sender_name="张阿姨",
                           text=text, at=clock())


def failing_on(message_id: str):
    """Dispatcher._act with a bug that strikes one message."""
    original = Dispatcher._act

    def failing(self, session, incoming, truncated=False):
        if incoming.id == message_id:
            raise RuntimeError("a bug")
        return original(self, session, incoming, truncated)

    return failing


@pytest.fixture
def batches(sim, monkeypatch):
    """The sizes of the batches the dispatcher was given."""
    sizes: list[int] = []
    original = Dispatcher.handle_many

    def counting(self, messages):
        sizes.append(len(messages))
        return original(self, messages)

    monkeypatch.setattr(Dispatcher, "handle_many", counting)
    return sizes


async def test_a_burst_is_acted_on_together_in_order_of_arrival(sim, db, clock, batches):
    burst = [message(clock, n, f"下单 {n}号楼楼道灯坏了", GRID if n % 2 else OTHER_GRID,
                     sender=f"wxid_resident_{n}") for n in range(1, 31)]
    burst.append(message(clock, 31, "接单 #1", sender=HEAD))
    await asyncio.gather(*(sim.bot.receive(one) for one in burst))

    assert batches == [31]
    with db.session() as session:
        tickets = session.exec(select(Ticket).order_by(Ticket.id)).all()
    assert [t.source_message_id for t in tickets] == [f"m{n}" for n in range(1, 31)]
    assert tickets[0].status == "claimed" and tickets[0].assignee_id == HEAD
    assert [p.reply_to for p in sim.posts] == [f"m{n}" for n in range(1, 32)]
    assert sim.posts[-1].text.startswith("#1 已由")


async def test_one_at_a_time_each_message_is_its_own_batch(sim, batches):
    for n in range(1, 4):
        await sim.say(GRID, "wxid_resident", f"下单 {n}号楼楼道灯坏了", name="张阿姨")
    assert batches == [1, 1, 1]


async def test_a_message_twice_in_one_burst_counts_once(sim, db, clock):
    twice = message(clock, 1, "下单 1号楼楼道灯坏了")
    await asyncio.gather(sim.bot.receive(twice), sim.bot.receive(twice))
    with db.session() as session:
        assert len(session.exec(select(Ticket)).all()) == 1
    assert len(sim.posts) == 1


async def test_a_message_that_fails_leaves_the_rest_of_its_burst_handled(sim, db, clock,
                                                                          monkeypatch, caplog):
    monkeypatch.setattr(Dispatcher, "_act", failing_on("m2"))
    burst = [message(clock, n, f"下单 {n}号楼楼道灯坏了") for n in range(1, 4)]
    with caplog.at_level(logging.INFO):
        await asyncio.gather(*(sim.bot.receive(one) for one in burst))

    with db.session() as session:
        handled = dict(session.exec(select(InboundMessage.message_id,
                                           InboundMessage.handled_at)).all())
        sources = session.exec(select(Ticket.source_message_id).order_by(Ticket.id)).all()
    assert sources == ["m1", "m3"]
    assert handled["m1"] and handled["m3"] and handled["m2"] is None  # kept for a redelivery
    assert [p.reply_to for p in sim.posts] == ["m1", "m3"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["could not act on message m2"]


async def test_a_redelivered_burst_acts_only_on_what_was_never_handled(sim, db, clock,
                                                                          monkeypatch):
    fixed = Dispatcher._act
    monkeypatch.setattr(Dispatcher, "_act", failing_on("m2"))
    first = [message(clock, n, f"下单 {n}号楼楼道灯坏了") for n in range(1, 4)]
    await asyncio.gather(*(sim.bot.receive(one) for one in first))
    monkeypatch.setattr(Dispatcher, "_act", fixed)  # the bug fixed, the gateway resends

    again = [*first, message(clock, 4, "下单 4号楼楼道灯坏了")]
    await asyncio.gather(*(sim.bot.receive(one) for one in again))

    with db.session() as session:
        sources = session.exec(select(Ticket.source_message_id).order_by(Ticket.id)).all()
        unhandled = session.exec(select(InboundMessage.message_id)
                                 .where(InboundMessage.handled_at.is_(None))).all()
    assert sources == ["m1", "m3", "m2", "m4"]
    assert unhandled == []
    assert [p.reply_to for p in sim.posts] == ["m1", "m3", "m2", "m4"]


async def test_when_storing_fails_every_sender_of_the_burst_is_told(sim, clock, monkeypatch):
    def database_down(self, prepared, *when):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(Dispatcher, "_store", database_down)
    burst = [message(clock, n, f"下单 {n}号楼楼道灯坏了") for n in range(1, 4)]
    outcomes = await asyncio.gather(*(sim.bot.receive(one) for one in burst),
                                    return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [ConnectionError] * 3
    assert sim.posts == []
