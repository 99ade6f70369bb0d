"""Work the scheduler does at a given time, with no message behind it: close resolved tickets
nobody rated within the policy's rating window. (Escalation timers and digests join here.)"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from bot.dispatch import apply_outcome, write_post
from bot.transport import OutgoingPost
from flows import lifecycle, texts
from flows.config import GridConfig
from flows.lifecycle import Actor
from models.db import Database
from models.tables import Status, Ticket

SYSTEM = Actor(id="gridbot", name=texts.BOT_NAME)
BATCH = 500  # tickets per transaction, so a long backlog never holds one huge lock


def close_unrated(config: GridConfig, db: Database, now: datetime) -> list[OutgoingPost]:
    """Close every resolved ticket whose rating window ended by `now`; returns the posts written."""
    deadline = now - config.policy.rating_window
    posts = []
    while True:
        with db.session() as session:
            due = session.exec(
                select(Ticket).where(Ticket.status == Status.RESOLVED, Ticket.resolved_at <= deadline)
                .order_by(Ticket.id).limit(BATCH).with_for_update(skip_locked=True)
            ).all()
            for ticket in due:
                outcome = lifecycle.close_unrated(ticket, now)
                apply_outcome(session, ticket, SYSTEM, outcome, now, None)
                posts += [write_post(session, reply, ticket.group_room, None, now)
                          for reply in outcome.replies]
        if len(due) < BATCH:
            return posts
