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
from flows.config import Member, Node
from models.tables import FINAL_STATUSES, Status, Ticket, TicketEvent


class Role(StrEnum):
    REPORTER = "reporter"          # posted the request
    HANDLER = "handler"            # the ticket's current assignee
    GRID_HEAD = "grid_head"        # head or deputy of the ticket's node
    SUPERIOR = "superior"          # head or deputy of a node above the ticket's node
    ESCALATED_TO = "escalated_to"  # head or deputy of a node the ticket has been escalated to
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
    room: str | None = None  # None: in the group the command came from
    recipient: str | None = None  # a private message to this member instead (digests to a head)


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


def _not_active(ticket: Ticket, action: str) -> Outcome | None:
    """The refusal for a ticket that is resolved, closed or cancelled, or None while it is being
    worked on (open or claimed)."""
    if ticket.status in FINAL_STATUSES or ticket.status == Status.RESOLVED:
        return refuse(texts.TICKET_FINISHED.format(
            number=ticket.id, status=texts.STATUS_NAMES[ticket.status], action=action))
    return None


def headline(ticket: Ticket) -> dict[str, Any]:
    """The fields every post about a ticket shows: number, urgency, category, place, text."""
    return _headline(ticket.id, ticket.urgent, ticket.category, ticket.text,
                     texts.location_text(ticket.building, ticket.unit, ticket.floor, ticket.room))


def _headline(number: int | None, urgent: bool, category: str, text: str,
              location: str) -> dict[str, Any]:
    return {
        "number": number,
        "urgent": texts.URGENT_MARK if urgent else "",
        "category": texts.CATEGORY_NAMES.get(category, category),
        "location": location,
        "description": text,
    }


def new_ticket_notice(number: int, request: Mapping[str, Any],
                      responsible_ids: Iterable[str]) -> Reply:
    """The bot's answer to a request: number, category, location, and @ whoever must claim it.
    `request` is the new ticket's row, as written."""
    location = texts.location_text(request["building"], request["unit"], request["floor"],
                                   request["room"])
    return Reply(
        texts.TICKET_CREATED.format(
            **_headline(number, request["urgent"], request["category"], request["text"], location),
        ),
        mentions=tuple(dict.fromkeys(responsible_ids)),
    )


def claim(ticket: Ticket, actor: Actor, now: datetime) -> Outcome:
    action = texts.ACTIONS["接单"]
    if refusal := _not_active(ticket, action):
        return refusal
    if ticket.status == Status.CLAIMED and ticket.assignee_id != actor.id \
            and actor.is_any(Role.ESCALATED_TO):
        return _take_over(ticket, actor)
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


def _take_over(ticket: Ticket, actor: Actor) -> Outcome:
    """A head the ticket was escalated to claims it from the handler below."""
    return Outcome(
        changes={"assignee_id": actor.id, "assignee_name": actor.name},
        events=(EventRecord("claimed", Status.CLAIMED, Status.CLAIMED,
                            f"{ticket.assignee_name} → {actor.name}"),),
        replies=(Reply(texts.TAKEN_OVER.format(number=ticket.id, handler=actor.name,
                                               previous=ticket.assignee_name),
                       mentions=(ticket.reporter_id,)),),
    )


def resolve(ticket: Ticket, actor: Actor, result: str, now: datetime) -> Outcome:
    """`办结`: by the handler; a grid head may also resolve an open ticket in one step."""
    action = texts.ACTIONS["办结"]
    if refusal := _not_active(ticket, action):
        return refusal
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
        **headline(ticket),
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


def _handler_only(ticket: Ticket, actor: Actor, action: str) -> Outcome | None:
    """The refusal for anyone but the handler of a claimed ticket, or None."""
    if refusal := _not_active(ticket, action):
        return refusal
    if ticket.status == Status.OPEN:
        return refuse(texts.NOT_CLAIMED_YET.format(number=ticket.id))
    if not actor.is_any(Role.HANDLER):
        return refuse(texts.NOT_HANDLER.format(number=ticket.id, handler=ticket.assignee_name,
                                               action=action))
    return None


def _who_to_tell(ticket: Ticket, heads: Iterable[str]) -> tuple[str, ...]:
    """The handler once there is one, else the heads who should claim it."""
    return (ticket.assignee_id,) if ticket.assignee_id else tuple(dict.fromkeys(heads))


def add_detail(ticket: Ticket, actor: Actor, detail: str, heads: Iterable[str]) -> Outcome:
    """`补充`: the reporter adds to the request; the handler (or the heads) are told."""
    action = texts.ACTIONS["补充"]
    if refusal := _finished(ticket, action):
        return refusal
    if not actor.is_any(Role.REPORTER):
        return refuse(texts.NOT_REPORTER.format(number=ticket.id, action=action))
    if not detail:
        return refuse(texts.DETAIL_NEEDED.format(number=ticket.id))
    return Outcome(
        events=(EventRecord("detail", note=detail),),
        replies=(Reply(texts.DETAIL_ADDED.format(number=ticket.id, detail=detail),
                       mentions=_who_to_tell(ticket, heads)),),
    )


def cancel(ticket: Ticket, actor: Actor, now: datetime) -> Outcome:
    """`撤单`: the reporter withdraws a request that is not resolved yet."""
    action = texts.ACTIONS["撤单"]
    if refusal := _finished(ticket, action):
        return refusal
    if not actor.is_any(Role.REPORTER):
        return refuse(texts.NOT_REPORTER.format(number=ticket.id, action=action))
    if ticket.status == Status.RESOLVED:
        return refuse(texts.CANNOT_CANCEL_RESOLVED.format(number=ticket.id))
    return Outcome(
        changes={"status": Status.CANCELLED, "closed_at": now},
        events=(EventRecord("cancelled", ticket.status, Status.CANCELLED),),
        replies=(Reply(texts.CANCELLED.format(number=ticket.id),
                       mentions=(ticket.assignee_id,) if ticket.assignee_id else ()),),
    )


def note_progress(ticket: Ticket, actor: Actor, progress: str) -> Outcome:
    """`进展`: the handler tells the reporter how it is going."""
    if refusal := _handler_only(ticket, actor, texts.ACTIONS["进展"]):
        return refusal
    if not progress:
        return refuse(texts.PROGRESS_NEEDED.format(number=ticket.id))
    return Outcome(
        events=(EventRecord("progress", note=progress),),
        replies=(Reply(texts.PROGRESS_NOTED.format(number=ticket.id, progress=progress),
                       mentions=(ticket.reporter_id,)),),
    )


def give_back(ticket: Ticket, actor: Actor, reason: str, heads: Iterable[str]) -> Outcome:
    """`退单`: the handler gives the ticket back; it waits for a claim again."""
    if refusal := _handler_only(ticket, actor, texts.ACTIONS["退单"]):
        return refusal
    if not reason:
        return refuse(texts.REASON_NEEDED.format(example=texts.EXAMPLES["退单"]))
    return Outcome(
        changes={"status": Status.OPEN, "assignee_id": None, "assignee_name": None,
                 "claimed_at": None},
        events=(EventRecord("given_back", Status.CLAIMED, Status.OPEN, reason),),
        replies=(Reply(texts.GIVEN_BACK.format(number=ticket.id, handler=actor.name, reason=reason),
                       mentions=tuple(h for h in dict.fromkeys(heads) if h != actor.id)),),
    )


@dataclass(frozen=True)
class Target:
    """Whom `转派` / `派单` names: the member found for the @-mention, whether the ticket may be
    given to them, or the reason no one was found (no mention, unknown or ambiguous name)."""

    member: Member | None
    may_handle: bool = False
    problem: str = ""


def _check_target(ticket: Ticket, target: Target) -> Outcome | None:
    if target.member is None:
        return refuse(target.problem)
    if ticket.assignee_id == target.member.id:
        return refuse(texts.SAME_HANDLER.format(number=ticket.id, name=target.member.name))
    if not target.may_handle:
        return refuse(texts.NOT_AUTHORISED_TARGET.format(number=ticket.id, name=target.member.name))
    return None


def transfer(ticket: Ticket, actor: Actor, target: Target) -> Outcome:
    """`转派 #N @someone`: the handler hands the ticket to another head or deputy of its grid
    or a grid above."""
    if refusal := _handler_only(ticket, actor, texts.ACTIONS["转派"]):
        return refusal
    if refusal := _check_target(ticket, target):
        return refusal
    member = target.member
    return Outcome(
        changes={"assignee_id": member.id, "assignee_name": member.name},
        events=(EventRecord("transferred", note=f"{actor.name} → {member.name}"),),
        replies=(Reply(texts.TRANSFERRED.format(number=ticket.id, handler=actor.name,
                                                target=member.name),
                       mentions=(member.id, ticket.reporter_id)),),
    )


def dispatch(ticket: Ticket, actor: Actor, target: Target, now: datetime) -> Outcome:
    """`派单 #N @someone`: a head above the ticket's grid assigns it."""
    action = texts.ACTIONS["派单"]
    if not actor.is_any(Role.SUPERIOR):
        return refuse(texts.NOT_SUPERIOR.format(number=ticket.id, action=action))
    if refusal := _not_active(ticket, action):
        return refusal
    if refusal := _check_target(ticket, target):
        return refusal
    member = target.member
    changes: dict[str, Any] = {"status": Status.CLAIMED, "assignee_id": member.id,
                               "assignee_name": member.name}
    if ticket.status == Status.OPEN:
        changes["claimed_at"] = now
    return Outcome(
        changes=changes,
        events=(EventRecord("dispatched", ticket.status, Status.CLAIMED,
                            f"{actor.name} → {member.name}"),),
        replies=(Reply(texts.DISPATCHED.format(number=ticket.id, dispatcher=actor.name,
                                               target=member.name),
                       mentions=(member.id,)),),
    )


def escalation_notice(ticket: Ticket, origin: Node, to: Node, reason: str | None) -> Reply:
    """The post in the group a ticket escalates to, @ its head."""
    return Reply(
        texts.ESCALATED.format(
            **headline(ticket),
            origin=origin.name,
            reason=texts.ESCALATION_REASON.format(reason=reason) if reason else "",
        ),
        mentions=(to.head.id,),
        room=to.group.room,
    )


def reminder(ticket: Ticket, top: Node, reason: str) -> Reply:
    """At the top of the network a ticket cannot climb further: its head is reminded instead."""
    return Reply(texts.REMINDER.format(**headline(ticket), reason=reason),
                 mentions=(top.head.id,), room=top.group.room)


def blow_whistle(ticket: Ticket, actor: Actor, reason: str, here: Node, to: Node | None) -> Outcome:
    """`吹哨`: a head of the ticket's grid (or above) moves it one level up now. `here` is the node
    where the ticket stands, `to` the one above it (None at the top)."""
    action = texts.ACTIONS["吹哨"]
    if not actor.is_any(Role.HANDLER, Role.GRID_HEAD, Role.SUPERIOR):
        return refuse(texts.NOT_A_HEAD_OF_TICKET.format(number=ticket.id, action=action))
    if refusal := _not_active(ticket, action):
        return refusal
    if to is None:
        return refuse(texts.AT_THE_TOP.format(number=ticket.id, group=here.group.name))
    return Outcome(
        changes={"escalation_level": ticket.escalation_level + 1},
        events=(EventRecord("escalated", note=f"{here.name} → {to.name}"
                            + (f"：{reason}" if reason else "")),),
        replies=(Reply(texts.WHISTLE_BLOWN.format(number=ticket.id, group=to.group.name)),
                 escalation_notice(ticket, here, to, reason or None)),
    )


def supervise(ticket: Ticket, actor: Actor, note: str, home_room: str, here_room: str,
              heads: Iterable[str]) -> Outcome:
    """`督办`: a head above the ticket's grid nudges whoever has it, in the ticket's own group
    (and is told it was done when they wrote from another group)."""
    action = texts.ACTIONS["督办"]
    if not actor.is_any(Role.SUPERIOR):
        return refuse(texts.NOT_SUPERIOR.format(number=ticket.id, action=action))
    if refusal := _not_active(ticket, action):
        return refusal
    nudge = Reply(texts.SUPERVISED.format(
        number=ticket.id, supervisor=actor.name,
        note=texts.SUPERVISION_NOTE.format(note=note) if note else ""),
        mentions=_who_to_tell(ticket, heads), room=home_room)
    sent = (Reply(texts.SUPERVISION_SENT.format(number=ticket.id)),) if here_room != home_room else ()
    return Outcome(events=(EventRecord("supervised", note=note or None),),
                   replies=(*sent, nudge))


def close_unrated(ticket: Ticket, now: datetime) -> Outcome:
    """The rating window is over: a resolved ticket closes without a rating."""
    if ticket.status != Status.RESOLVED:
        return Outcome()
    return Outcome(
        changes={"status": Status.CLOSED, "closed_at": now},
        events=(EventRecord("auto_closed", Status.RESOLVED, Status.CLOSED),),
        replies=(Reply(texts.AUTO_CLOSED.format(number=ticket.id),
                       room=ticket.group_room),),
    )
