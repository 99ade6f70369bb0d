"""What `/readyz` checks of the database: that it takes a write, not only a read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from models.db import Database
from models.tables import Heartbeat

_table = Heartbeat.__table__
NAME = "readyz"


def write_heartbeat(db: Database, now: datetime) -> None:
    """Commit a write of one small row (rewritten each time, so the table never grows).
    Raises what the driver raises when the database is read-only or the disk is full."""
    with db.engine.begin() as connection:
        changed = connection.execute(update(_table).where(_table.c.name == NAME)
                                     .values(beat_at=now)).rowcount
        if not changed:
            connection.execute(db.insert_unless_present(_table, ["name"])
                               .values(name=NAME, beat_at=now))
