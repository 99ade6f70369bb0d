"""Stand-ins (代理) in the database: who stands in for whom now, set by `请假` and ended by `销假`
or at their time (flows/stand_ins.py for the words; the outbox's pipeline adds the stand-ins to
what is posted, the dispatcher gives them the heads' roles)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from models.tables import StandIn

_table = StandIn.__table__


def _active(now: datetime):
    return (_table.c.until > now) & _table.c.ended_at.is_(None) & (_table.c.created_at <= now)


# Per database: until when (the bot's time) no leave runs at all, so that every post need not
# ask. A leave started here clears it; one started by another instance sharing the database
# takes effect within NONE_RECHECK.
NONE_RECHECK = timedelta(seconds=30)
_none_until: dict[int, datetime] = {}


def stand_ins_for(session: Session, member_ids: Iterable[str], now: datetime) -> dict[str, str]:
    """{head's member id: stand-in's member id} for the heads among `member_ids` away at `now`
    (the latest leave of each)."""
    wanted = sorted(set(member_ids))
    if not wanted:
        return {}
    key = id(session.get_bind())
    if key in _none_until and _none_until[key] - NONE_RECHECK <= now < _none_until[key]:
        return {}
    if session.execute(select(_table.c.id).where(_active(now)).limit(1)).first() is None:
        _none_until[key] = now + NONE_RECHECK
        return {}
    rows = session.execute(select(_table.c.member_id, _table.c.stand_in_id)
                           .where(_table.c.member_id.in_(wanted), _active(now))
                           .order_by(_table.c.id)).all()
    return {member: stand_in for member, stand_in in rows}


def standing_in_for(session: Session, member_id: str, now: datetime) -> list[str]:
    """The heads `member_id` stands in for at `now`, first set first."""
    return list(dict.fromkeys(member for (member,) in session.execute(
        select(_table.c.member_id).where(_table.c.stand_in_id == member_id, _active(now))
        .order_by(_table.c.id))))


def start_leave(session: Session, member_id: str, stand_in_id: str, stand_in_name: str,
                until: datetime, now: datetime) -> int:
    """`member_id` is away until `until`, `stand_in_id` standing in; an earlier leave of theirs
    still running ends now. Returns the new leave's id."""
    end_leave(session, member_id, now)
    _none_until.pop(id(session.get_bind()), None)
    return session.execute(insert(_table).returning(_table.c.id).values(
        member_id=member_id, stand_in_id=stand_in_id, stand_in_name=stand_in_name, until=until,
        created_at=now)).scalar_one()


def end_leave(session: Session, member_id: str, now: datetime) -> bool:
    """`销假`: the member's running leave ends at `now`; False when none was running."""
    ended = session.execute(update(_table).where(_table.c.member_id == member_id, _active(now))
                            .values(ended_at=now))
    return bool(ended.rowcount)
