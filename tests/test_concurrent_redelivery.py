"""One message id handed over many times at once (a gateway retrying, several instances on one
database) is acted on once, on SQLite as on PostgreSQL: the claim is one UPDATE of the rows
still unhandled."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from sqlmodel import func, select

from bot.dispatch import Dispatcher
from bot.transport import IncomingMessage
from models.db import Database
from models.tables import InboundMessage, OutboundPost, TicketEvent

GRID = "shibalong-1@chatroom"
HEAD = "wxid_qiu_huanwu"
IDS, COPIES = 30, 8


def test_thirty_ids_each_redelivered_eight_times_at_once_are_acted_on_once(db, config, network,
                                                                          monkeypatch):
    acting = Dispatcher._act

    def slow_act(self, session, message, truncated=False):
        time.sleep(0.02)  # a busy moment: the copies overlap for sure
        return acting(self, session, message, truncated)

    monkeypatch.setattr(Dispatcher, "_act", slow_act)
    at = datetime.now(timezone.utc)
    instances = [Dispatcher(config, Database(db.url, migrate=False), network)
                 for _ in range(COPIES)]
    for n in range(1, IDS + 1):  # tickets #1…#30, claimed by the grid's head
        instances[0].handle(IncomingMessage(
            id=f"order-{n}", room=GRID, sender_id=f"wxid_resident_{n}", sender_name=f"居民{n}",
            text=f"下单 {n % 9 + 1}号楼楼道灯坏了", at=at))
        instances[0].handle(IncomingMessage(id=f"claim-{n}", room=GRID, sender_id=HEAD,
                                            sender_name="邱煥武", text=f"接单 #{n}", at=at))
    with db.session() as session:
        events_before = session.exec(select(func.count()).select_from(TicketEvent)).one()
    # A command no unique key guards: only the claim keeps it from being acted on twice.
    messages = [IncomingMessage(id=f"progress-{n}", room=GRID, sender_id=HEAD,
                                sender_name="邱煥武", text=f"进展 #{n} 已联系物业，明天上门", at=at)
                for n in range(1, IDS + 1)]
    barriers = [threading.Barrier(COPIES) for _ in messages]
    failures: list[BaseException] = []

    def deliver_all(dispatcher: Dispatcher) -> None:
        # Each copy of each id at the same moment as its seven twins (one connection a copy).
        for n, message in enumerate(messages):
            try:
                barriers[n].wait()
                dispatcher.handle(message)
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

    threads = [threading.Thread(target=deliver_all, args=(dispatcher,))
               for dispatcher in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for dispatcher in instances:
        dispatcher.db.dispose()

    assert failures == []
    with db.session() as session:
        events = session.exec(select(func.count()).select_from(TicketEvent)).one()
        progress = session.exec(select(func.count()).select_from(TicketEvent)
                                .where(TicketEvent.kind == "progress")).one()
        posts = session.exec(select(OutboundPost.reply_to, func.count())
                             .where(OutboundPost.reply_to.like("progress-%"))
                             .group_by(OutboundPost.reply_to)).all()
        unhandled = session.exec(select(func.count()).select_from(InboundMessage)
                                 .where(InboundMessage.handled_at.is_(None))).one()
    assert (events - events_before, progress, unhandled) == (IDS, IDS, 0)  # 0 extra events
    assert sorted(posts) == sorted((m.id, 1) for m in messages)  # 0 extra posts
