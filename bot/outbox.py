"""Delivering the outbox: posts written with the change that caused them, sent afterwards.

A post is marked delivered only after the transport accepted it, and delivery stops at the first
failure so the order of posts is kept; the rest go on the next call. Before sending, a sender
takes the post with a lease, so several bots sharing a database never send one post twice; a
post taken by a sender that died goes out again once its lease ends (delivery is at least once
only across such a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.transport import OutgoingPost, Transport
from flows.lifecycle import Reply
from models.db import Database
from models.tables import OutboundPost

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(minutes=5)
_table = OutboundPost.__table__  # Core statements: delivery runs once per message


PAGE = 500  # posts read per query


def pending_posts(db: Database, after_id: int = 0, limit: int = PAGE) -> list[OutgoingPost]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(_table).where(_table.c.delivered_at.is_(None), _table.c.id > after_id)
            .order_by(_table.c.id).limit(limit)).all()
    return [outgoing(row._mapping, row.id) for row in rows]


def post_values(reply: Reply, default_room: str, reply_to: str | None,
                now: datetime) -> dict[str, Any]:
    """The outbox row of a reply, column by column."""
    # API users (ids `api:…`) act on tickets but are no chat members: nobody to @ in a group.
    mentions = [member for member in reply.mentions if not member.startswith("api:")]
    return {"room": None if reply.recipient else reply.room or default_room,
            "recipient_id": reply.recipient, "text": reply.text, "mentions": mentions,
            "reply_to": reply_to, "created_at": now}


def write_posts(session: Session, rows: list[dict[str, Any]]) -> list[OutgoingPost]:
    """Put posts (`post_values` rows) in the outbox, in the transaction of the change that
    caused them, with one statement; returns them numbered, in the order given."""
    if not rows:
        return []
    numbers = session.execute(insert(_table).returning(_table.c.id, sort_by_parameter_order=True),
                              rows).scalars().all()
    return [outgoing(values, number) for values, number in zip(rows, numbers)]


def outgoing(values: Mapping[str, Any], post_id: int) -> OutgoingPost:
    """An outbox row (its columns), written with `post_id`, as the transport sends it."""
    return OutgoingPost(room=values["room"], text=values["text"],
                        mentions=tuple(values["mentions"]), reply_to=values["reply_to"],
                        recipient=values["recipient_id"], id=post_id)


def pending_count(db: Database) -> int:
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(_table)
                                  .where(_table.c.delivered_at.is_(None))).scalar_one()


def take_for_sending(db: Database, post_ids: list[int], now: datetime) -> set[int]:
    """Take the posts for this sender; returns those it got (not held by another sender, not
    sent already)."""
    if not post_ids:
        return set()
    with db.engine.begin() as connection:
        taken = connection.execute(
            update(_table)
            .where(_table.c.id.in_(post_ids), _table.c.delivered_at.is_(None),
                   or_(_table.c.sending_since.is_(None), _table.c.sending_since < now - SEND_LEASE))
            .values(sending_since=now).returning(_table.c.id))
        return {row.id for row in taken}


def release(db: Database, post_ids: list[int]) -> None:
    if post_ids:
        with db.engine.begin() as connection:
            connection.execute(update(_table).where(_table.c.id.in_(post_ids))
                               .values(sending_since=None))


def mark_delivered(db: Database, post_id: int, at: datetime) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(_table).where(_table.c.id == post_id,
                                                _table.c.delivered_at.is_(None))
                           .values(delivered_at=at))


async def deliver_pending(db: Database, transport: Transport,
                          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    """Send every undelivered post in order; return how many this sender sent."""
    sent = 0
    after_id = 0
    while posts := pending_posts(db, after_id):
        after_id = posts[-1].id
        taken = take_for_sending(db, [post.id for post in posts], clock())
        delivered: set[int] = set()
        held: set[str | None] = set()  # rooms with a post another sender holds: keep their order
        try:
            for post in posts:
                where = post.recipient or post.room
                if post.id not in taken or where in held:
                    held.add(where)
                    continue
                try:
                    await transport.send(post)
                except Exception as error:  # the transport says why; the post is kept either way
                    log.warning("post %s not delivered yet (%s: %s); it stays in the outbox",
                                post.id, type(error).__name__, error)
                    return sent
                mark_delivered(db, post.id, clock())
                delivered.add(post.id)
                sent += 1
        finally:
            # Taken but not sent (behind a held post, or after a failure): free for the next try.
            release(db, sorted(taken - delivered))
        if len(posts) < PAGE:
            break
    return sent
