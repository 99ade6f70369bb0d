"""Delivering the outbox: posts written with the change that caused them, sent afterwards.

A post is marked delivered only after the transport accepted it, and delivery stops at the first
failure so the order of posts is kept; the rest go on the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

from sqlmodel import select

from bot.transport import OutgoingPost, Transport
from models.db import Database
from models.tables import OutboundPost

log = logging.getLogger(__name__)


def pending_posts(db: Database, limit: int = 500) -> list[OutgoingPost]:
    with db.session() as session:
        rows = session.exec(
            select(OutboundPost).where(OutboundPost.delivered_at.is_(None))  # type: ignore[union-attr]
            .order_by(OutboundPost.id).limit(limit)
        ).all()
        return [OutgoingPost(room=row.room, text=row.text, mentions=tuple(row.mentions),
                             reply_to=row.reply_to, id=row.id) for row in rows]


def mark_delivered(db: Database, post_id: int, at: datetime) -> None:
    with db.session() as session:
        row = session.get(OutboundPost, post_id)
        if row is not None and row.delivered_at is None:
            row.delivered_at = at


async def deliver_pending(db: Database, transport: Transport,
                          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    """Send every undelivered post in order; return how many went out."""
    sent = 0
    while posts := pending_posts(db):
        for post in posts:
            try:
                await transport.send(post)
            except Exception:
                log.warning("post %s not delivered yet; it stays in the outbox", post.id, exc_info=True)
                return sent
            mark_delivered(db, post.id, clock())
            sent += 1
    return sent
