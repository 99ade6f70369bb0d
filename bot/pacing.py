"""Pacing the outbox per room: at most `transport.posts_per_room_per_minute` posts into one group
(or to one member privately) in any minute, as WeChat and WeCom allow about 20.

A transport whose limit is per sender rather than per room (a WeCom group robot: 20 messages a
minute per robot, 群机器人配置说明; a DingTalk custom robot the same) names the sender of each
destination with `pacing_key(destination) -> str`: the destinations one sender serves then share
its posts a minute. Without it, each destination is its own sender.

The count is read from the outbox itself (the posts delivered in the last minute, by their
`delivered_at`), so it holds across restarts and across bots sharing a database. A post held
back stays in the outbox and goes when its room has a free slot again; a room at its limit
never holds back another room.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from models.db import Database
from models.tables import OutboundPost

WINDOW = timedelta(minutes=1)
DEFAULT_PER_MINUTE = 20
_table = OutboundPost.__table__


def same_destination(destination: str) -> str:
    """The pacing key of a transport whose limit is per room: the destination itself."""
    return destination


def destination_column():
    """The SQL expression of a post's destination: its room, or a private post's member."""
    return func.coalesce(_table.c.room, _table.c.recipient_id)


@dataclass
class RoomPacer:
    """Which destination (room id, or member id for a private post) may have a post now.

    `recent` holds, per sender (`key` of the destination: the destination itself unless the
    transport paces per sender), the times posts were delivered within the last `WINDOW` (UTC,
    oldest first); `sent` records each post this sender delivers."""

    per_minute: int
    recent: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    key: Callable[[str], str] = same_destination

    @classmethod
    def load(cls, db: Database, per_minute: int, now: datetime,
             key: Callable[[str], str] = same_destination) -> RoomPacer:
        """The pacer as the outbox says: the posts delivered since `now` - `WINDOW`."""
        pacer = cls(per_minute, key=key)
        with db.engine.connect() as connection:
            rows = connection.execute(
                select(destination_column(), _table.c.delivered_at)
                .where(_table.c.delivered_at > now - WINDOW)
                .order_by(_table.c.delivered_at)).all()
        for destination, at in rows:
            pacer.recent[key(destination)].append(at)
        return pacer

    def _in_window(self, destination: str, now: datetime) -> list[datetime]:
        sender = self.key(destination)
        times = [at for at in self.recent.get(sender, ()) if at > now - WINDOW]
        self.recent[sender] = times
        return times

    def room_left(self, destination: str, now: datetime) -> int:
        """How many posts `destination` may still have at `now` (0 when it, or the sender it
        shares, is at its limit)."""
        return max(self.per_minute - len(self._in_window(destination, now)), 0)

    def sent(self, destination: str, at: datetime) -> None:
        self.recent[self.key(destination)].append(at)

    def free_at(self, destination: str, now: datetime) -> datetime:
        """When `destination` may have its next post: `now` if it has room, else when the oldest
        post counted against it leaves the window."""
        times = self._in_window(destination, now)
        if len(times) < self.per_minute:
            return now
        return sorted(times)[len(times) - self.per_minute] + WINDOW


def next_turn(db: Database, per_minute: int, now: datetime,
              key: Callable[[str], str] = same_destination) -> datetime | None:
    """When the next waiting post may go (`now` when one may go at once); None when the outbox
    has nothing waiting. Posts another sender holds are counted as waiting too; dead letters
    are not (they wait for an operator)."""
    with db.engine.connect() as connection:
        waiting = connection.execute(select(destination_column()).distinct()
                                     .where(_table.c.delivered_at.is_(None),
                                            _table.c.dead_at.is_(None))).scalars().all()
    if not waiting:
        return None
    pacer = RoomPacer.load(db, per_minute, now, key)
    return min(pacer.free_at(destination, now) for destination in waiting)
