"""`/api/tickets`: the tickets of the caller's subtree, filtered and paginated, and one ticket
with its whole history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlmodel import func, select

from api.auth import caller, not_found, the_bot
from api.params import MAX_LEVEL, MAX_PAGE, TicketNumber, moment
from api.schemas import EventOut, TicketDetail, TicketOut, TicketPage
from api.tokens import Principal
from bot.runtime import Bot
from flows.masking import masked_for_node
from flows.open_tickets import overdue_at
from models.subtrees import in_subtree
from flows.request_parser import CATEGORIES
from models.tables import Status, Ticket, TicketEvent

router = APIRouter(prefix="/api/tickets", tags=["tickets"])

def masked_for(bot: Bot, principal: Principal) -> bool:
    """Above the micro-grid the API shows tickets masked (flows/masking.py)."""
    return masked_for_node(bot.network, principal.node_id)


@router.get("", response_model=TicketPage, summary="Tickets of my subtree")
def list_tickets(
    bot: Annotated[Bot, Depends(the_bot)],
    principal: Annotated[Principal, Depends(caller)],
    node: Annotated[str | None, Query(description="Only this node's subtree (inside mine).")] = None,
    status: Annotated[list[Status] | None, Query(description="Any of these statuses.")] = None,
    category: Annotated[str | None, Query(description=f"One of: {', '.join(CATEGORIES)}.")] = None,
    urgent: bool | None = None,
    overdue: Annotated[bool | None, Query(description="Past the deadline and not resolved.")] = None,
    level: Annotated[int | None, Query(ge=0, le=MAX_LEVEL, description="Escalation level.")] = None,
    since: Annotated[datetime | None, Query(
        description="Created at or after; without an offset, in policy.timezone.")] = None,
    until: Annotated[datetime | None, Query(
        description="Created before; without an offset, in policy.timezone.")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    if node is not None and node not in principal.subtree:
        raise not_found(f"node {node!r}")
    if category is not None and category not in CATEGORIES:
        raise HTTPException(422, f"category: one of {', '.join(CATEGORIES)} expected, "
                                 f"got {category!r}")
    zone = ZoneInfo(bot.config.policy.timezone)
    since, until = moment("since", since, zone), moment("until", until, zone)
    now = bot.clock()
    where = node or principal.node_id
    filters = []
    if status:
        filters.append(Ticket.status.in_(status))  # type: ignore[attr-defined]
    if category is not None:
        filters.append(Ticket.category == category)
    if urgent is not None:
        filters.append(Ticket.urgent.is_(urgent))  # type: ignore[attr-defined]
    if overdue is not None:
        late = overdue_at(now)
        filters.append(late if overdue else ~late)
    if level is not None:
        filters.append(Ticket.escalation_level == level)
    if since is not None:
        filters.append(Ticket.created_at >= since)
    if until is not None:
        filters.append(Ticket.created_at < until)
    with bot.db.session() as session:
        # With filters, start from their index and test the subtree per row; without, count the
        # subtree's rows in its own index.
        total = session.exec(select(func.count()).select_from(Ticket).where(
            in_subtree(bot.network, where, per_row=bool(filters)), *filters)).one()
        # The newest first: walk the ids from the top and test the subtree on each.
        rows = session.exec(select(Ticket).where(in_subtree(bot.network, where, per_row=True),
                                                 *filters).order_by(Ticket.id.desc())  # type: ignore[union-attr]
                            .offset((page - 1) * per_page).limit(per_page)).all()
    masked = masked_for(bot, principal)
    return TicketPage(items=[TicketOut.of(t, bot.network, now, masked) for t in rows],
                      total=total, page=page, per_page=per_page)


def ticket_in_scope(bot: Bot, principal: Principal, number: int) -> Ticket:
    with bot.db.session() as session:
        ticket = session.get(Ticket, number)
    if ticket is None or not principal.sees(ticket):
        raise not_found(f"ticket #{number}")
    return ticket


@router.get("/{number}", response_model=TicketDetail, summary="One ticket and its history",
            responses={404: {"description": "No such ticket in my subtree"}})
def show_ticket(number: TicketNumber, bot: Annotated[Bot, Depends(the_bot)],
                principal: Annotated[Principal, Depends(caller)]) -> TicketDetail:
    ticket = ticket_in_scope(bot, principal, number)
    with bot.db.session() as session:
        events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == number)
                              .order_by(TicketEvent.id)).all()
    masked = masked_for(bot, principal)
    summary = TicketOut.of(ticket, bot.network, bot.clock(), masked)
    return TicketDetail(**summary.model_dump(), events=[EventOut.of(e, masked, ticket, bot.network)
                                                          for e in events])
