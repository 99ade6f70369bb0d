"""`/api/stand-ins`: heads away (请假) and who stands in for them (代理), set, listed and ended by
an operator, with the chat's rules (`请假 至12月3日 代理 @周敏`, `销假`; bot/stand_ins.py).

The caller acts for the heads of its token's subtree: a leave is set and ended only for a head or
deputy (or a building or unit head) of a node in that subtree; anyone else is 404, like a ticket
outside it. The stand-in is a head or deputy the head's group could @-mention, as in chat. The
notices the chat gives (the stand-in told, the leave ended) go to the head's group.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlmodel import Session, select

from api.auth import caller, not_found, the_bot
from api.params import EARLIEST_YEAR, LATEST_YEAR, MAX_TICKET_NUMBER
from api.tokens import Principal
from bot.outbox import PostPipeline, post_values, write_posts
from bot.runtime import Bot
from bot.stand_ins import start_leave
from flows import texts
from flows.config import Node
from flows.lifecycle import Reply
from models.tables import ID_LENGTH, StandIn

router = APIRouter(prefix="/api/stand-ins", tags=["stand-ins"])

Caller = Annotated[Principal, Depends(caller)]
TheBot = Annotated[Bot, Depends(the_bot)]
StandInId = Annotated[int, Path(ge=1, le=MAX_TICKET_NUMBER, description="The leave's id.")]


class LeaveIn(BaseModel):
    member_id: str = Field(max_length=ID_LENGTH, description="The head or deputy away (of a node "
                                                             "in my subtree).")
    stand_in: str = Field(max_length=ID_LENGTH, description="Member id of who stands in: a head or "
                                                            "deputy the head's group can @-mention.")
    until: str = Field(max_length=40, description="The end of the leave: a time with its offset "
                                                  "(`2026-12-03T12:00:00+08:00`), or the last day "
                                                  "away as a local date (`2026-12-03`: until the "
                                                  "end of that day, as `请假 至12月3日`).")


class StandInOut(BaseModel):
    """A leave: who is away, who stands in, until when (UTC offsets as stored)."""

    id: int
    member_id: str
    member_name: str | None
    stand_in_id: str
    stand_in_name: str
    until: datetime
    created_at: datetime
    ended_at: datetime | None = Field(description="When it was ended early (销假); null otherwise.")
    active: bool = Field(description="Whether it runs now.")

    @classmethod
    def of(cls, row: StandIn, bot: Bot, now: datetime) -> StandInOut:
        return cls(id=row.id, member_id=row.member_id,
                   member_name=bot.network.member_name(row.member_id),
                   stand_in_id=row.stand_in_id, stand_in_name=row.stand_in_name,
                   until=row.until, created_at=row.created_at, ended_at=row.ended_at,
                   active=row.ended_at is None and row.created_at <= now < row.until)


def _led_here(bot: Bot, principal: Principal, member_id: str) -> Node | None:
    """The first node of my subtree `member_id` heads or deputises (or heads a building or unit
    of); None when they lead nothing in it."""
    network = bot.network
    led = [*network.nodes_led_by(member_id),
           *(place.grid for place in network.places_led_by(member_id))]
    return next((node for node in led if principal.top or node.id in principal.subtree), None)


def _until(bot: Bot, written: str, now: datetime) -> datetime:
    """The leave's end from the request: 422 unless a time with an offset or a date, later
    than now."""
    zone = bot.dispatcher.zone
    text = written.strip()
    try:
        if len(text) == 10:
            last = date.fromisoformat(text)
            until = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
        else:
            until = datetime.fromisoformat(text)
            if until.tzinfo is None:
                raise ValueError("no offset")
    except ValueError:
        raise HTTPException(422, f"until: a time with its offset (2026-12-03T12:00:00+08:00) or "
                                 f"a date (2026-12-03) expected, got {written!r}") from None
    if not EARLIEST_YEAR <= until.year <= LATEST_YEAR:
        raise HTTPException(422, f"until: a time between {EARLIEST_YEAR} and {LATEST_YEAR} "
                                 f"expected, got {written!r}")
    if until <= now:
        raise HTTPException(422, f"until: the leave must end after now, got {written!r}")
    return until


def _tell(session: Session, bot: Bot, reply: Reply, room: str, now: datetime) -> None:
    write_posts(session, [post_values(reply, room, None, now)],
                PostPipeline.of(bot.config, bot.network))


@router.post("", response_model=StandInOut, status_code=201, summary="请假: set a leave and its stand-in",
             responses={404: {"description": "No such head or deputy in my subtree"},
                        409: {"description": "Refused as in chat (the stand-in is the head)"},
                        422: {"description": "A bad until, or a stand-in the head's group cannot "
                                             "@-mention"}})
async def set_leave(body: LeaveIn, bot: TheBot, principal: Caller) -> StandInOut:
    """As `请假 至12月3日 代理 @周敏` by the head: an earlier leave of theirs still running ends;
    the stand-in is told in the head's group."""
    now = bot.clock()
    network = bot.network
    node = _led_here(bot, principal, body.member_id)
    if node is None:
        raise not_found(f"head {body.member_id!r}")
    until = _until(bot, body.until, now)
    stand_in = network.member(body.stand_in)
    if stand_in is None or not network.addressable(stand_in.id, node):
        raise HTTPException(422, f"stand_in: {body.stand_in!r} is no head or deputy the group "
                                 f"of {node.name} can @-mention")
    if stand_in.id == body.member_id:
        raise HTTPException(409, texts.LEAVE_SELF)
    head = network.member_name(body.member_id) or body.member_id
    last = (until - timedelta(microseconds=1)).astimezone(bot.dispatcher.zone)
    with bot.db.session() as session:
        number = start_leave(session, body.member_id, stand_in.id, stand_in.name, until, now)
        _tell(session, bot, Reply(texts.LEAVE_SET.format(
            head=head, stand_in=stand_in.name, last=f"{last.month}月{last.day}日"),
            mentions=(stand_in.id,)), node.group.room, now)
        session.flush()
        result = StandInOut.of(session.get(StandIn, number), bot, now)
    await bot.deliver()
    return result


@router.get("", response_model=list[StandInOut], summary="The leaves of my subtree's heads")
def list_leaves(bot: TheBot, principal: Caller) -> list[StandInOut]:
    """Every leave, running and ended, of a head or deputy of my subtree; the latest first."""
    now = bot.clock()
    with bot.db.session() as session:
        rows = session.exec(select(StandIn).order_by(StandIn.id.desc())).all()  # type: ignore[union-attr]
        return [StandInOut.of(row, bot, now) for row in rows
                if _led_here(bot, principal, row.member_id) is not None]


@router.delete("/{leave_id}", status_code=204, summary="销假: end a leave now",
               responses={404: {"description": "No such leave of a head of my subtree"},
                          409: {"description": "It does not run (ended, or over)"}})
async def end_leave(leave_id: StandInId, bot: TheBot, principal: Caller) -> Response:
    """As `销假` by the head: the leave ends now and its stand-in stops; the head's group is told."""
    now = bot.clock()
    with bot.db.session() as session:
        row = session.get(StandIn, leave_id)
        node = _led_here(bot, principal, row.member_id) if row is not None else None
        if row is None or node is None:
            raise not_found(f"stand-in {leave_id}")
        table = StandIn.__table__
        ended = session.execute(update(table).where(
            table.c.id == leave_id, table.c.ended_at.is_(None), table.c.until > now,
            table.c.created_at <= now).values(ended_at=now))
        if not ended.rowcount:
            raise HTTPException(409, texts.LEAVE_NOT_RUNNING)
        head = bot.network.member_name(row.member_id) or row.member_id
        _tell(session, bot, Reply(texts.LEAVE_ENDED.format(head=head)), node.group.room, now)
    await bot.deliver()
    return Response(status_code=204)
