"""The stored messages the bot could not act on: tried again with backoff by the scheduler
(`Dispatcher.retry_due`), set aside as dead letters after the last try, and what the operator
sees of them (`gridbot inbox dead`, `/readyz`) and does with them (`gridbot inbox retry`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from models.db import Database
from models.tables import InboundMessage

_INBOUND = InboundMessage.__table__


def inbox_health(db: Database) -> dict[str, int]:
    """How many stored messages are set aside (`dead`) and how many failed and wait for
    another try (`retrying`)."""
    unhandled = _INBOUND.c.handled_at.is_(None)
    with db.engine.connect() as connection:
        dead = connection.execute(select(func.count()).select_from(_INBOUND).where(
            unhandled, _INBOUND.c.dead_at.is_not(None))).scalar_one()
        retrying = connection.execute(select(func.count()).select_from(_INBOUND).where(
            unhandled, _INBOUND.c.dead_at.is_(None), _INBOUND.c.attempts > 0)).scalar_one()
    return {"dead": dead, "retrying": retrying}


def dead_letters(db: Database, limit: int = 50) -> tuple[list, int]:
    """The dead letters, oldest first (at most `limit`), and how many there are."""
    dead = (_INBOUND.c.handled_at.is_(None), _INBOUND.c.dead_at.is_not(None))
    with db.engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(_INBOUND)
                                   .where(*dead)).scalar_one()
        rows = connection.execute(select(_INBOUND).where(*dead).order_by(_INBOUND.c.id)
                                  .limit(limit)).all()
    return rows, total


def revive(db: Database, message_id: str, now: datetime) -> bool:
    """Make a dead letter due again at `now`, its tries counted afresh; False when there is no
    such dead letter."""
    with db.engine.begin() as connection:
        changed = connection.execute(
            update(_INBOUND).where(_INBOUND.c.message_id == message_id,
                                   _INBOUND.c.handled_at.is_(None),
                                   _INBOUND.c.dead_at.is_not(None))
            .values(dead_at=None, attempts=0, retry_at=now)).rowcount
    return changed == 1
