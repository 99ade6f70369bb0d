"""What `/readyz` checks of the database (that it takes a write, not only a read) and says of the
scheduler (whether the catch-up scan after start is done)."""

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


class CatchUp:
    """Whether the first scan of `gridbot run` is done: the catch-up of what fell due while the
    bot was down (escalations, digests), which starts once the API listens and may take a while
    after a long downtime. `/readyz` shows it as `catch_up`: `running` until that scan ended
    (failed or not: the log says), then `done`. It does not make the bot unready: the API,
    the webhook and the chat are served meanwhile, and answer from the database as it is."""

    def __init__(self) -> None:
        self.finished = False

    def done(self) -> None:
        self.finished = True

    @property
    def state(self) -> str:
        return "done" if self.finished else "running"
