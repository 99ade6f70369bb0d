"""The ticket state machine as pure transitions.

Each transition takes a ticket, the actor (with the roles the caller worked out), the command's
arguments and `now`, and returns an `Outcome`: the ticket fields to change, the events to record and
the replies to post. Nothing here touches the database or a chat transport, so every rule is tested
on plain objects; a refusal is an outcome with a reply and no change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from flows import texts
from models.tables import FINAL_STATUSES, Status, Ticket, TicketEvent


class Role(StrEnum):
    REPORTER = "reporter"          # posted the request
    HANDLER = "handler"            # the ticket's current assignee
    GRID_HEAD = "grid_head"        # head or deputy of the ticket's node
    SUPERIOR = "superior"          # head of a node above the ticket's node
    IN_SCOPE = "in_scope"          # speaks in a group of the ticket's node, an ancestor, or its origin


@dataclass(frozen=True)
class Actor:
    id: str
    name: str
    roles: frozenset[Role] = frozenset()

    def is_any(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True)
class Reply:
    text: str
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventRecord:
    kind: str
    from_status: Status | None = None
    to_status: Status | None = None
    note: str | None = None


@dataclass(frozen=True)
class Outcome:
    changes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[EventRecord, ...] = ()
    replies: tuple[Reply, ...] = ()

    @property
    def accepted(self) -> bool:
        return bool(self.events)


def refuse(text: str) -> Outcome:
    return Outcome(replies=(Reply(text),))


def _finished(ticket: Ticket, action: str) -> Outcome | None:
    if ticket.status in FINAL_STATUSES:
        return refuse(texts.TICKET_FINISHED.format(
            number=ticket.id, status=texts.STATUS_NAMES[ticket.status], action=action))
    return None


def new_ticket_notice(ticket: Ticket, responsible_ids: Iterable[str]) -> Reply:
    """The bot's answer to a request: number, category, location, and @ whoever must claim it."""
    return Reply(
        texts.TICKET_CREATED.format(
            number=ticket.id,
            urgent=texts.URGENT_MARK if ticket.urgent else "",
            category=texts.CATEGORY_NAMES.get(ticket.category, ticket.category),
            location=texts.location_text(ticket.building, ticket.unit, ticket.floor, ticket.room),
            description=ticket.text,
        ),
        mentions=tuple(dict.fromkeys(responsible_ids)),
    )


def claim(ticket: Ticket, actor: Actor, now: datetime) -> Outcome:
    action = texts.ACTIONS["接单"]
    if refusal := _finished(ticket, action):
        return refusal
    if ticket.status != Status.OPEN:
        template = texts.ALREADY_YOURS if ticket.assignee_id == actor.id else texts.ALREADY_CLAIMED
        return refuse(template.format(number=ticket.id, handler=ticket.assignee_name))
    if not actor.is_any(Role.GRID_HEAD, Role.SUPERIOR):
        return refuse(texts.NOT_GRID_HEAD.format(number=ticket.id, action=action))
    return Outcome(
        changes={"status": Status.CLAIMED, "assignee_id": actor.id,
                 "assignee_name": actor.name, "claimed_at": now},
        events=(EventRecord("claimed", Status.OPEN, Status.CLAIMED),),
        replies=(Reply(texts.CLAIMED.format(number=ticket.id, handler=actor.name),
                       mentions=(ticket.reporter_id,)),),
    )


def resolve(ticket: Ticket, actor: Actor, result: str, now: datetime) -> Outcome:
    """`办结`: by the handler; a grid head may also resolve an open ticket in one step."""
    action = texts.ACTIONS["办结"]
    if refusal := _finished(ticket, action):
        return refusal
    if ticket.status == Status.RESOLVED:
        return refuse(texts.TICKET_FINISHED.format(
            number=ticket.id, status=texts.STATUS_NAMES[ticket.status], action=action))
    events: tuple[EventRecord, ...] = ()
    changes: dict[str, Any] = {}
    if ticket.status == Status.OPEN:
        if not actor.is_any(Role.GRID_HEAD, Role.SUPERIOR):
            return refuse(texts.NOT_GRID_HEAD.format(number=ticket.id, action=action))
        # Solved on the spot without a separate 接单: record the claim so the history stays whole.
        changes = {"assignee_id": actor.id, "assignee_name": actor.name, "claimed_at": now}
        events = (EventRecord("claimed", Status.OPEN, Status.CLAIMED),)
    elif ticket.assignee_id != actor.id:
        return refuse(texts.NOT_HANDLER.format(
            number=ticket.id, handler=ticket.assignee_name, action=action))
    note = result or None
    reply_text = (texts.RESOLVED.format(number=ticket.id, result=result) if result
                  else texts.RESOLVED_WITHOUT_NOTE.format(number=ticket.id))
    return Outcome(
        changes={**changes, "status": Status.RESOLVED, "resolved_at": now, "resolution": note},
        events=(*events, EventRecord("resolved", Status.CLAIMED, Status.RESOLVED, note)),
        replies=(Reply(reply_text, mentions=(ticket.reporter_id,)),),
    )


def split_rating(text: str) -> tuple[str | None, str]:
    """`"不满意 灯又坏了"` → `("不满意", "灯又坏了")`; an unknown word → `(None, text)`."""
    stripped = text.strip()
    for rating in texts.RATINGS:
        if stripped.startswith(rating):
            return rating, stripped[len(rating):].strip(" \t\u3000:：,，。")
    return None, stripped


def rate(ticket: Ticket, actor: Actor, text: str, now: datetime) -> Outcome:
    """`评价`: by the reporter of a resolved ticket; 不满意 reopens it with the same handler."""
    action = texts.ACTIONS["评价"]
    if refusal := _finished(ticket, action):
        return refusal
    if not actor.is_any(Role.REPORTER):
        return refuse(texts.NOT_REPORTER.format(number=ticket.id, action=action))
    if ticket.status != Status.RESOLVED:
        return refuse(texts.NOT_RESOLVED_YET.format(number=ticket.id))
    rating, comment = split_rating(text)
    if rating is None:
        return refuse(texts.RATING_USAGE.format(number=ticket.id))
    rated = EventRecord("rated", note=f"{rating} {comment}".strip())
    if rating in texts.SATISFIED_RATINGS:
        return Outcome(
            changes={"status": Status.CLOSED, "closed_at": now, "rating": rating,
                     "rating_comment": comment or None},
            events=(rated, EventRecord("closed", Status.RESOLVED, Status.CLOSED)),
            replies=(Reply(texts.RATED.format(number=ticket.id, rating=rating)),),
        )
    comment_text = texts.REOPENED_COMMENT.format(comment=comment) if comment else ""
    return Outcome(
        changes={"status": Status.CLAIMED, "resolved_at": None, "rating": rating,
                 "rating_comment": comment or None},
        events=(rated, EventRecord("reopened", Status.RESOLVED, Status.CLAIMED, comment or None)),
        replies=(Reply(texts.REOPENED.format(number=ticket.id, handler=ticket.assignee_name,
                                             comment=comment_text),
                       mentions=(ticket.assignee_id,) if ticket.assignee_id else ()),),
    )


def summary(ticket: Ticket, events: Iterable[TicketEvent], actor: Actor, zone: tzinfo,
            action: str = texts.ACTIONS["查询"]) -> Outcome:
    """`查询` / `进度`: the ticket's state and its history, for people in its groups."""
    if not actor.is_any(Role.IN_SCOPE, Role.REPORTER, Role.HANDLER, Role.GRID_HEAD, Role.SUPERIOR):
        return refuse(texts.NOT_IN_THIS_GROUP.format(number=ticket.id, action=action))
    status = texts.STATUS_NAMES[ticket.status]
    if ticket.assignee_name and ticket.status == Status.CLAIMED:
        status += texts.QUERY_HANDLER.format(handler=ticket.assignee_name)
    lines = [texts.QUERY_HEADER.format(
        number=ticket.id,
        urgent=texts.URGENT_MARK if ticket.urgent else "",
        category=texts.CATEGORY_NAMES.get(ticket.category, ticket.category),
        location=texts.location_text(ticket.building, ticket.unit, ticket.floor, ticket.room),
        description=ticket.text,
        status=status,
    )]
    for event in events:
        lines.append(texts.QUERY_EVENT.format(
            time=event.at.astimezone(zone).strftime(texts.TIME_FORMAT),
            event=texts.EVENT_NAMES.get(event.kind, event.kind),
            actor=event.actor_name,
            note=f"：{event.note}" if event.note else "",
        ))
    return Outcome(replies=(Reply("\n".join(lines)),))
