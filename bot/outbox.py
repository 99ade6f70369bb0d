"""Delivering the outbox: posts written with the change that caused them, sent afterwards.

A post is marked delivered only after the transport accepted it, and delivery stops at the first
failure so the order of posts is kept; the rest go on the next call. Before sending, a sender
takes the post with a lease, so several bots sharing a database never send one post twice; a
post taken by a sender that died goes out again once its lease ends (delivery is at least once
only across such a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, update
from sqlmodel import func, select

from bot.transport import OutgoingPost, Transport
from models.db import Database
from models.tables import OutboundPost

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(minutes=5)


def pending_posts(db: Database, after_id: int = 0, limit: int = 500) -> list[OutgoingPost]:
    with db.session() as session:
        rows = session.exec(
            select(OutboundPost).where(OutboundPost.delivered_at.is_(None),  # type: ignore[union-attr]
                                       OutboundPost.id > after_id)
            .order_by(OutboundPost.id).limit(limit)
        ).all()
        return [OutgoingPost(room=row.room, recipient=row.recipient_id, text=row.text, mentions=tuple(row.mentions),
                             reply_to=row.reply_to, id=row.id) for row in rows]


def pending_count(db: Database) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(OutboundPost).where(
            OutboundPost.delivered_at.is_(None))).one()  # type: ignore[union-attr]


def take_for_sending(db: Database, post_id: int, now: datetime) -> bool:
    """Take the post for this sender; False when another one holds it or it went out already."""
    with db.session() as session:
        taken = session.execute(
            update(OutboundPost)
            .where(OutboundPost.id == post_id, OutboundPost.delivered_at.is_(None),  # type: ignore[union-attr]
                   or_(OutboundPost.sending_since.is_(None),  # type: ignore[union-attr]
                       OutboundPost.sending_since < now - SEND_LEASE))
            .values(sending_since=now))
        return taken.rowcount == 1


def release(db: Database, post_id: int) -> None:
    with db.session() as session:
        row = session.get(OutboundPost, post_id)
        if row is not None:
            row.sending_since = None


def mark_delivered(db: Database, post_id: int, at: datetime) -> None:
    with db.session() as session:
        row = session.get(OutboundPost, post_id)
        if row is not None and row.delivered_at is None:
            row.delivered_at = at


async def deliver_pending(db: Database, transport: Transport,
                          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    """Send every undelivered post in order; return how many this sender sent."""
    sent = 0
    after_id = 0
    while posts := pending_posts(db, after_id):
        held: set[str | None] = set()  # rooms with a post another sender holds: keep their order
        for post in posts:
            after_id = post.id
            where = post.recipient or post.room
            if where in held or not take_for_sending(db, post.id, clock()):
                held.add(where)
                continue
            try:
                await transport.send(post)
            except Exception as error:  # the transport says why; the post is kept either way
                release(db, post.id)
                log.warning("post %s not delivered yet (%s: %s); it stays in the outbox",
                            post.id, type(error).__name__, error)
                return sent
            mark_delivered(db, post.id, clock())
            sent += 1
    return sent
