"""Where a request joins the open ticket of the same problem instead of opening another
(一事多报, design §7 "One problem, many reports"): the database side of `flows.repeats`.

- The same resident again: the request is added to their ticket as a 补充 (`detail` event), and
  they are told its number; no new ticket.
- Another household: the request is kept as a ticket of its own, status `merged`, joined to the
  first (`parent_id`): it starts no timer, the first ticket's history shows the household
  (`joined` event), and the household hears that ticket's claim and resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, or_
from sqlmodel import Session, func, select

from bot.transport import IncomingMessage
from flows import lifecycle, texts
from flows.commands import find_ticket_references
from flows.config import Node
from flows.lifecycle import Actor, Reply, Role
from flows.repeats import Candidate, Report, best_match, notice_covers, report_of
from flows.request_parser import ParsedRequest
from models.tables import Status, Ticket

if TYPE_CHECKING:
    from bot.dispatch import Context, Dispatcher

_TICKETS = Ticket.__table__
# A grid with more open tickets than this in the window compares the newest only.
MAX_CANDIDATES = 200
_c = _TICKETS.c
# What a 下单 may join, built once (it runs for every 下单): the columns compared, not ORM
# objects, of the tickets of its node and the nodes above (`area`) that are running notices or
# were created within the window.
_NEARBY = (select(_c.id, _c.node_id, _c.status, _c.notice_until, _c.created_at, _c.reporter_id,
                  _c.text, _c.category, _c.urgent, _c.building, _c.unit, _c.floor, _c.room)
           .where(_c.node_id.in_(bindparam("area", expanding=True)),
                  or_(_c.notice_until > bindparam("now", type_=_c.notice_until.type),
                      _c.created_at > bindparam("since", type_=_c.created_at.type)))
           .order_by(_c.id.desc()).limit(MAX_CANDIDATES))


def stored_report(ticket: Ticket) -> Report:
    """An open ticket's problem as compared, from its stored text and parsed fields."""
    parsed = ParsedRequest(True, ticket.category, ticket.urgent, ticket.building, ticket.unit,
                           ticket.floor, ticket.room, ticket.text)
    return report_of(ticket.text, parsed)


def join_repeat(dispatcher: Dispatcher, context: Context, description: str,
                parsed: ParsedRequest, node: Node) -> list[Reply] | None:
    """The answer when this 下单 reports what a running area-wide notice of `node` or a node
    above announces, or the problem of an open ticket of `node` (routed there already), the join
    recorded; None when it is a new problem (the caller opens a ticket)."""
    settings = dispatcher.config.policy.repeats
    if not settings.enabled:
        return None
    session, message = context.session, context.message
    area = [node.id, *(above.id for above in dispatcher.network.ancestors(node.id))]
    # One look-up for both, by node (a few tickets stand at a grid and the nodes above it); the
    # status is checked here: a condition on it would have SQLite walk every open ticket.
    nearby = session.execute(_NEARBY, {"area": area, "now": message.at,
                                       "since": message.at - settings.window}).all()
    if not nearby:
        return None
    running = [t for t in nearby if t.status == Status.CLAIMED and t.notice_until is not None
               and t.notice_until > message.at]
    if running and (answer := join_notice(context, description, parsed, node, running)):
        return answer
    open_here = [t for t in nearby if t.node_id == node.id and t.notice_until is None
                 and t.status in (Status.OPEN, Status.CLAIMED)]
    if not open_here:
        return None
    new = report_of(description, parsed, dispatcher.lexicon)
    by_number = {ticket.id: ticket for ticket in open_here}
    candidates = [Candidate(ticket.id, stored_report(ticket), ticket.created_at,
                            ticket.reporter_id == message.sender_id) for ticket in open_here]
    found = best_match(new, candidates, settings.min_similarity, message.at, settings.window)
    if found is None:
        return None
    original = by_number[found.number]
    if original.reporter_id == message.sender_id:
        actor = Actor(message.sender_id, message.sender_name)
        record(session, original.id, actor, lifecycle.EventRecord("detail", note=description), message)
        return [Reply(texts.REPEAT_ADDED.format(number=original.id), mentions=(message.sender_id,))]
    return add_follower(session, message, original, description, parsed, node.id)


def add_follower(session: Session, message: IncomingMessage, original: Ticket, description: str,
                 parsed: ParsedRequest, node_id: str) -> list[Reply]:
    """Another household's report of `original`'s problem, kept as a ticket of status merged
    joined to it (no timer), the join in both histories; the answer to the household (the
    notice itself when `original` is an area-wide notice)."""
    actor = Actor(message.sender_id, message.sender_name)
    number = session.execute(insert(_TICKETS).returning(_TICKETS.c.id), {
        "source_message_id": message.id, "group_room": message.room, "node_id": node_id,
        "reporter_id": message.sender_id, "reporter_name": message.sender_name,
        "text": description, "category": parsed.category, "urgent": bool(parsed.urgent),
        "building": parsed.building, "unit": parsed.unit, "floor": parsed.floor,
        "room": parsed.room, "status": Status.MERGED, "escalation_level": 0,
        "created_at": message.at, "parent_id": original.id,
    }).scalar_one()
    record(session, number, actor, lifecycle.EventRecord("created", None, Status.MERGED), message)
    record(session, number, actor, lifecycle.EventRecord("merged", note=f"#{original.id}"), message)
    record(session, original.id, actor, lifecycle.EventRecord("joined", note=description), message)
    return [joined_answer(session, original, message.sender_id)]


def joined_answer(session: Session, original: Ticket, member_id: str) -> Reply:
    """What a household whose report joined `original` is told."""
    counted = households(session, original)
    if original.notice_until is not None:
        return Reply(texts.NOTICE_JOINED.format(number=original.id, text=original.text,
                                                households=counted), mentions=(member_id,))
    return Reply(texts.JOINED_EXISTING.format(number=original.id, households=counted),
                 mentions=(member_id,))


def join_notice(context: Context, description: str, parsed: ParsedRequest, node: Node,
                running: list[Ticket]) -> list[Reply] | None:
    """The answer when this 下单, routed to `node`, reports what one of the `running` area-wide
    notices (公告) of `node` or a node above announces (`flows.repeats.notice_covers`): the
    household joins it (told again, nothing added, when it had); None when none covers it."""
    session, message = context.session, context.message
    new = report_of(description, parsed)
    for notice in running:
        if notice_covers(stored_report(notice), new):
            if notice.reporter_id == message.sender_id or is_follower(session, notice, message.sender_id):
                return [joined_answer(session, notice, message.sender_id)]
            return add_follower(session, message, notice, description, parsed, node.id)
    return None


def join_quoted(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """`我也是` / `同上` / `+1` / `我家也是` replying to a bot notice of one ticket: the household
    joins that ticket (一事多报) when it is open or claimed and they are in its groups; said
    again, they are told again and nothing is added. Anything else is talk: no answer."""
    session, message = context.session, context.message
    numbers = find_ticket_references(message.quoted or "")
    if len(numbers) != 1:
        return []
    original = session.get(Ticket, numbers[0])
    if original is None or original.status not in (Status.OPEN, Status.CLAIMED) \
            or original.reporter_id == message.sender_id \
            or Role.IN_SCOPE not in dispatcher.actor_for(context, original).roles:
        return []
    if is_follower(session, original, message.sender_id):
        return [joined_answer(session, original, message.sender_id)]
    as_original = ParsedRequest(True, original.category, original.urgent, original.building,
                                original.unit, original.floor, original.room, original.text)
    return add_follower(session, message, original, message.text.strip(), as_original,
                        original.node_id)


def record(session: Session, ticket_id: int, actor: Actor, event: lifecycle.EventRecord,
           message) -> None:
    from bot.dispatch import record_events  # the one writer of events
    record_events(session, ticket_id, actor, (event,), message.at, message.id)


def households(session: Session, ticket: Ticket) -> int:
    """How many households reported the ticket's problem: its reporter and every other member
    whose report was joined to it (for an area-wide notice, those others only: the head who
    posted it reported nothing)."""
    others = session.execute(
        select(func.count(func.distinct(_TICKETS.c.reporter_id)))
        .where(_TICKETS.c.parent_id == ticket.id, _TICKETS.c.status == Status.MERGED,
               _TICKETS.c.reporter_id != ticket.reporter_id)).scalar_one()
    return int(others) + (0 if ticket.notice_until is not None else 1)


def followers(session: Session, ticket: Ticket) -> Sequence[tuple[str, str]]:
    """(room, member id) of each household whose report was joined to the ticket, first first."""
    return [(room, member) for room, member in session.execute(
        select(_TICKETS.c.group_room, _TICKETS.c.reporter_id)
        .where(_TICKETS.c.parent_id == ticket.id, _TICKETS.c.status == Status.MERGED)
        .order_by(_TICKETS.c.id))]


def is_follower(session: Session, ticket: Ticket, member_id: str) -> bool:
    """Whether `member_id` reported the ticket's problem in a report joined to it."""
    return session.execute(
        select(_TICKETS.c.id).where(_TICKETS.c.parent_id == ticket.id,
                                    _TICKETS.c.status == Status.MERGED,
                                    _TICKETS.c.reporter_id == member_id).limit(1)).first() is not None


def follower_names(session: Session, ticket: Ticket) -> list[str]:
    """The names of the other households that reported the ticket's problem, first first."""
    return list(dict.fromkeys(name for (name,) in session.execute(
        select(_TICKETS.c.reporter_name)
        .where(_TICKETS.c.parent_id == ticket.id, _TICKETS.c.status == Status.MERGED,
               _TICKETS.c.reporter_id != ticket.reporter_id)
        .order_by(_TICKETS.c.id))))


__all__ = ["add_follower", "follower_names", "followers", "households", "is_follower",
           "join_notice", "join_quoted", "join_repeat", "joined_answer", "stored_report"]
