"""The ticket state machine as pure transitions.

Each transition takes a ticket, the actor (with the roles the caller worked out), the command's
arguments and `now`, and returns an `Outcome`: the ticket fields to change, the events to record and
the replies to post. Nothing here touches the database or a chat transport, so every rule is tested
on plain objects; a refusal is an outcome with a reply and no change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from flows import texts
from flows.commands import read_rating
from flows.config import Member, Node, Timers
from flows.durations import format_duration
from flows.escalation import EscalationClock, format_chinese_duration
from flows.working_time import WorkingTime, read_amount
from models.tables import FINAL_STATUSES, Status, Ticket, TicketEvent


class Role(StrEnum):
    REPORTER = "reporter"          # posted the request
    HANDLER = "handler"            # the ticket's current assignee
    GRID_HEAD = "grid_head"        # head or deputy of the ticket's node
    SUPERIOR = "superior"          # head or deputy of a node above the ticket's node
    ESCALATED_TO = "escalated_to"  # head or deputy of a node the ticket has been escalated to
    IN_SCOPE = "in_scope"          # speaks in a group of the ticket's node, an ancestor, or its origin
    CO_HANDLER = "co_handler"      # added by a routing rule (协办, design §6): may claim, note progress, resolve
    PLACE_HEAD = "place_head"      # heads the ticket's building or unit (楼栋长、单元长): may claim and resolve like a deputy
    FOLLOWER = "follower"          # reported the same problem, joined to the ticket (一事多报): may rate


@dataclass(frozen=True)
class Actor:
    id: str
    name: str
    roles: frozenset[Role] = frozenset()
    # The buildings or units the actor heads (`4栋`), when none of them holds this ticket: a
    # refusal names them (`#3 不在您负责的4栋`).
    places: str | None = None

    def is_any(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


class Audience(StrEnum):
    """Whom a notice about a ticket is for; `flows.notice_routing` turns it into groups."""

    HERE = "here"                  # whoever said the command, where they said it
    REPORTER = "reporter"          # the group the request was posted in
    HANDLER = "handler"            # the handler's own group (else where the ticket waits)
    WAITING = "waiting"            # the group where the ticket waits now (its heads must act)
    PREVIOUS_HANDLER = "previous"  # the group of a handler this change replaced
    CALLS = "calls"                # every group asked to act on it that has not heard yet


@dataclass(frozen=True)
class Reply:
    text: str
    mentions: tuple[str, ...] = ()
    room: str | None = None  # None: in the group the command came from
    recipient: str | None = None  # a private message to this member instead (digests to a head)
    to: Audience | None = None  # for notices about a ticket: routed by flows.notice_routing


@dataclass(frozen=True)
class EventRecord:
    kind: str
    from_status: Status | None = None
    to_status: Status | None = None
    note: str | None = None
    by: Actor | None = None   # recorded as done by this actor, not the sender (the bot's own acts)


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


# Who may claim a ticket, or resolve one nobody has claimed yet.
_MAY_CLAIM = (Role.GRID_HEAD, Role.SUPERIOR, Role.CO_HANDLER, Role.PLACE_HEAD)


def _not_grid_head(ticket: Ticket, actor: Actor, action: str) -> Outcome:
    """The refusal for someone who may not claim the ticket: a building or unit head is told
    the ticket is not in their place, anyone else that they are not its grid's head."""
    if actor.places:
        return refuse(texts.NOT_YOUR_PLACE.format(number=ticket.id, places=actor.places,
                                                  action=action))
    return refuse(texts.NOT_GRID_HEAD.format(number=ticket.id, action=action))


def _merged(ticket: Ticket, action: str) -> Outcome | None:
    """The refusal for a report joined to another ticket (一事多报): act on that one."""
    if ticket.status == Status.MERGED:
        return refuse(texts.MERGED_INTO.format(number=ticket.id, parent=ticket.parent_id,
                                               action=action))
    return None


def _finished(ticket: Ticket, action: str) -> Outcome | None:
    if refusal := _merged(ticket, action):
        return refusal
    if ticket.status in FINAL_STATUSES:
        return refuse(texts.TICKET_FINISHED.format(
            number=ticket.id, status=texts.STATUS_NAMES[ticket.status], action=action))
    return None


def _not_active(ticket: Ticket, action: str) -> Outcome | None:
    """The refusal for a ticket that is resolved, closed or cancelled, or None while it is being
    worked on (open or claimed)."""
    if refusal := _merged(ticket, action):
        return refusal
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


def new_ticket_notice(number: int, request: Mapping[str, Any], responsible_ids: Iterable[str],
                      home: Node | None = None,
                      co_handler_names: Sequence[str] = (),
                      place_head: tuple[str, str] | None = None) -> tuple[Reply, ...]:
    """The bot's answer to a request: number, category, location, and @ whoever must claim it.
    `request` is the new ticket's row, as written; `home` the node it was routed to;
    `co_handler_names` the co-handlers (协办) the routing rules add, named in the call;
    `place_head` the (title, name) of the head of its building or unit (`("楼栋长", "方兰")`),
    named in the call too. When its group is not the one the request was posted in, the call
    to claim goes to the heads' own group and the reporter is told there where it went."""
    location = texts.location_text(request["building"], request["unit"], request["floor"],
                                   request["room"])
    fields = _headline(number, request["urgent"], request["category"], request["text"], location)
    template = texts.TICKET_CREATED
    if co_handler_names:
        template = texts.TICKET_CREATED_WITH_CO_HANDLERS
        fields["co_handlers"] = "、".join(co_handler_names)
    if place_head is not None:
        template = (texts.TICKET_CREATED_WITH_PLACE_HEAD_AND_CO_HANDLERS if co_handler_names
                    else texts.TICKET_CREATED_WITH_PLACE_HEAD)
        fields["title"], fields["place_head"] = place_head
    call = Reply(template.format(**fields),
                 mentions=tuple(dict.fromkeys(responsible_ids)))
    if home is None or home.group.room == request["group_room"]:
        return (call,)
    return (Reply(texts.TICKET_CREATED_ELSEWHERE.format(**fields, group=home.group.name)),
            replace(call, room=home.group.room))


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
    if not actor.is_any(*_MAY_CLAIM):
        return _not_grid_head(ticket, actor, action)
    return Outcome(
        changes={"status": Status.CLAIMED, "assignee_id": actor.id,
                 "assignee_name": actor.name, "claimed_at": now},
        events=(EventRecord("claimed", Status.OPEN, Status.CLAIMED),),
        replies=(Reply(texts.CLAIMED.format(number=ticket.id, handler=actor.name),
                       mentions=(ticket.reporter_id,), to=Audience.REPORTER),
                 Reply(texts.CLAIMED_ELSEWHERE.format(number=ticket.id, handler=actor.name),
                       to=Audience.CALLS)),
    )


def _take_over(ticket: Ticket, actor: Actor) -> Outcome:
    """A head the ticket was escalated to claims it from the handler below; the reporter, the
    previous handler and the other groups asked to act are told."""
    names = {"number": ticket.id, "handler": actor.name, "previous": ticket.assignee_name}
    return Outcome(
        changes={"assignee_id": actor.id, "assignee_name": actor.name},
        events=(EventRecord("claimed", Status.CLAIMED, Status.CLAIMED,
                            f"{ticket.assignee_name} → {actor.name}"),),
        replies=(Reply(texts.TAKEN_OVER.format(**names), mentions=(ticket.reporter_id,),
                       to=Audience.REPORTER),
                 Reply(texts.TAKEN_OVER.format(**names), mentions=(ticket.assignee_id,),
                       to=Audience.PREVIOUS_HANDLER),
                 Reply(texts.TAKEN_OVER_ELSEWHERE.format(**names), to=Audience.CALLS)),
    )


@dataclass(frozen=True)
class Verifiers:
    """Who checks a resolution (核查, policy.verification): `by` (`head` or `above`), the node
    whose group is asked, and the members there who may."""

    by: str
    node: Node
    member_ids: tuple[str, ...]


def resolve(ticket: Ticket, actor: Actor, result: str, now: datetime,
            verifiers: Verifiers | None = None) -> Outcome:
    """`办结`: by the handler or a co-handler (协办); a grid head, the head of the ticket's
    building or unit (楼栋长、单元长) or a co-handler may also resolve an open ticket in one step. With `verifiers` it waits for their 核查 (status verifying, no
    timer) before the reporter is asked to rate."""
    action = texts.ACTIONS["办结"]
    if refusal := _not_active(ticket, action):
        return refusal
    events: tuple[EventRecord, ...] = ()
    changes: dict[str, Any] = {}
    if ticket.status == Status.OPEN:
        if not actor.is_any(*_MAY_CLAIM):
            return _not_grid_head(ticket, actor, action)
        # Solved on the spot without a separate 接单: record the claim so the history stays whole.
        changes = {"assignee_id": actor.id, "assignee_name": actor.name, "claimed_at": now}
        events = (EventRecord("claimed", Status.OPEN, Status.CLAIMED),)
    elif ticket.assignee_id != actor.id and not actor.is_any(Role.CO_HANDLER):
        return refuse(texts.NOT_HANDLER.format(
            number=ticket.id, handler=ticket.assignee_name, action=action))
    note = result or None
    if verifiers is not None:
        return Outcome(
            changes={**changes, "status": Status.VERIFYING, "resolution": note},
            events=(*events, EventRecord("resolved", Status.CLAIMED, Status.VERIFYING, note)),
            replies=(Reply(texts.VERIFY_CALL.format(number=ticket.id, result=result or "—",
                                                    handler=actor.name),
                           mentions=tuple(m for m in verifiers.member_ids if m != actor.id),
                           room=verifiers.node.group.room),
                     Reply(texts.VERIFY_TOLD.format(number=ticket.id), mentions=(ticket.reporter_id,),
                           to=Audience.REPORTER)),
        )
    reply_text = (texts.RESOLVED.format(number=ticket.id, result=result) if result
                  else texts.RESOLVED_WITHOUT_NOTE.format(number=ticket.id))
    return Outcome(
        changes={**changes, "status": Status.RESOLVED, "resolved_at": now, "resolution": note},
        events=(*events, EventRecord("resolved", Status.CLAIMED, Status.RESOLVED, note)),
        replies=(Reply(reply_text, mentions=(ticket.reporter_id,), to=Audience.REPORTER),
                 Reply(texts.RESOLVED_ELSEWHERE.format(number=ticket.id, handler=actor.name),
                       to=Audience.CALLS)),
    )


def verify(ticket: Ticket, actor: Actor, text: str, by: str, resolver_id: str | None,
           now: datetime) -> Outcome:
    """`核查 #12 通过` / `核查 #12 不通过 原因`: someone other than the member who resolved it
    (`resolver_id`) checks the resolution: a head or deputy of the ticket's node (`by="head"`)
    or a head above it (`by="above"`). Passed, it is resolved and the reporter asked to rate;
    failed, it goes back to the handler with a fresh resolve timer (the practice of 核查结案:
    GB/T 30428, the 12345 hotline rules)."""
    if ticket.status != Status.VERIFYING:
        return refuse(texts.NOT_VERIFYING.format(number=ticket.id))
    allowed = actor.is_any(Role.GRID_HEAD, Role.SUPERIOR) if by == "head" else actor.is_any(Role.SUPERIOR)
    if actor.id == resolver_id or not allowed:
        return refuse(texts.NOT_VERIFIER.format(number=ticket.id, who=texts.VERIFIERS[by]))
    words = text.strip()
    if words.startswith("不通过"):
        reason = words.removeprefix("不通过").strip(" ，,：:")
        if not reason:
            return refuse(texts.REASON_NEEDED.format(example=f"核查 #{ticket.id} 不通过 灯还是不亮"))
        return Outcome(
            changes={"status": Status.CLAIMED, "resolution": None},
            events=(EventRecord("verification_failed", Status.VERIFYING, Status.CLAIMED, reason),),
            replies=(Reply(texts.VERIFICATION_FAILED.format(number=ticket.id, reason=reason),
                           mentions=(ticket.assignee_id,) if ticket.assignee_id else (),
                           to=Audience.HANDLER),))
    if not words.startswith("通过"):
        return refuse(texts.VERIFY_USAGE.format(number=ticket.id))
    return Outcome(
        changes={"status": Status.RESOLVED, "resolved_at": now},
        events=(EventRecord("verified", Status.VERIFYING, Status.RESOLVED,
                            words.removeprefix("通过").strip(" ，,：:") or None),),
        replies=(Reply(texts.VERIFIED.format(number=ticket.id, result=ticket.resolution or "—"),
                       mentions=(ticket.reporter_id,), to=Audience.REPORTER),
                 Reply(texts.RESOLVED_ELSEWHERE.format(number=ticket.id, handler=actor.name),
                       to=Audience.CALLS)),
    )


def split_rating(text: str) -> tuple[str | None, str]:
    """`"不满意 灯又坏了"` → `("不满意", "灯又坏了")`; the reporter's own words count as what
    they mean (`"非常满意，谢谢"` → `("满意", "谢谢")`, `"还行"` → `("基本满意", "")`); an unknown
    word → `(None, text)`."""
    found = read_rating(text)
    if found is None:
        return None, text.strip()
    return found.rating, found.comment


def rating_in_note(note: str | None) -> str:
    """The rating a `rated` event's note records: `"满意（非常满意） 谢谢"` → `"满意"`."""
    return (note or "").split(" ", 1)[0].split("（", 1)[0]


def rate(ticket: Ticket, actor: Actor, text: str, now: datetime) -> Outcome:
    """`评价`: by the reporter of a resolved ticket; 不满意 reopens it with the same handler. A
    household whose report was joined to it (一事多报) rates it too, once resolved or closed:
    recorded, without changing it."""
    action = texts.ACTIONS["评价"]
    if actor.is_any(Role.FOLLOWER) and not actor.is_any(Role.REPORTER):
        return _follower_rating(ticket, text)
    if refusal := _finished(ticket, action):
        return refusal
    if not actor.is_any(Role.REPORTER):
        return refuse(texts.NOT_REPORTER.format(number=ticket.id, action=action))
    if ticket.status != Status.RESOLVED:
        return refuse(texts.NOT_RESOLVED_YET.format(number=ticket.id))
    found = read_rating(text)
    if found is None:
        return refuse(texts.RATING_USAGE.format(number=ticket.id))
    rating, comment = found.rating, found.comment
    # The history keeps the reporter's own words when they differ: `满意（非常满意） 谢谢`.
    said = rating if found.words == rating else f"{rating}（{found.words}）"
    rated = EventRecord("rated", note=f"{said} {comment}".strip())
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
                       mentions=(ticket.assignee_id,) if ticket.assignee_id else (),
                       to=Audience.HANDLER),),
    )


def _follower_rating(ticket: Ticket, text: str) -> Outcome:
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        return refuse(texts.NOT_RESOLVED_YET.format(number=ticket.id))
    found = read_rating(text)
    if found is None:
        return refuse(texts.RATING_USAGE.format(number=ticket.id))
    said = found.rating if found.words == found.rating else f"{found.rating}（{found.words}）"
    return Outcome(events=(EventRecord("follower_rated", note=f"{said} {found.comment}".strip()),),
                   replies=(Reply(texts.FOLLOWER_RATED.format(number=ticket.id,
                                                              rating=found.rating)),))


def summary(ticket: Ticket, events: Iterable[TicketEvent], actor: Actor, zone: tzinfo,
            action: str = texts.ACTIONS["查询"], co_handler_names: Sequence[str] = (),
            follower_names: Sequence[str] = (), households: int | None = None,
            attachments: str | None = None) -> Outcome:
    """`查询` / `进度`: the ticket's state, its co-handlers (协办), the other households that
    reported its problem (一事多报: `households` of them in all, by default the reporter and
    those others), its attachments (`attachments`, the line of `flows.attachments.
    attachment_line`) and its history, for people in its groups."""
    if not actor.is_any(Role.IN_SCOPE, Role.REPORTER, Role.HANDLER, Role.GRID_HEAD, Role.SUPERIOR,
                        Role.PLACE_HEAD):
        return refuse(texts.NOT_IN_THIS_GROUP.format(number=ticket.id, action=action))
    status = texts.STATUS_NAMES[ticket.status]
    if ticket.assignee_name and ticket.status == Status.CLAIMED:
        status += texts.QUERY_HANDLER.format(handler=ticket.assignee_name)
    lines = [texts.QUERY_HEADER.format(
        **headline(ticket),
        status=status,
    )]
    if co_handler_names:
        lines.append(texts.QUERY_CO_HANDLERS.format(names="、".join(co_handler_names)))
    if follower_names:
        counted = 1 + len(follower_names) if households is None else households
        lines.append(texts.QUERY_HOUSEHOLDS.format(households=counted,
                                                   names="、".join(follower_names)))
    if attachments:
        lines.append(attachments)
    for event in events:
        lines.append(texts.QUERY_EVENT.format(
            time=event.at.astimezone(zone).strftime(texts.TIME_FORMAT),
            event=texts.EVENT_NAMES.get(event.kind, event.kind),
            actor=event.actor_name,
            note=f"：{shown_note(event.kind, event.note)}" if event.note else "",
        ))
    return Outcome(replies=(Reply("\n".join(lines)),))


def _handler_only(ticket: Ticket, actor: Actor, action: str,
                  co_handlers_too: bool = False) -> Outcome | None:
    """The refusal for anyone but the handler of a claimed ticket (and its co-handlers when
    `co_handlers_too`), or None."""
    if refusal := _not_active(ticket, action):
        return refusal
    if ticket.status == Status.OPEN:
        return refuse(texts.NOT_CLAIMED_YET.format(number=ticket.id))
    if not actor.is_any(Role.HANDLER, *((Role.CO_HANDLER,) if co_handlers_too else ())):
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
                       mentions=_who_to_tell(ticket, heads), to=Audience.HANDLER),),
    )


def add_evidence(actor: Actor, media: str) -> Outcome:
    """A photo or video the handler sent after their `办结` (flows/attachments.py chose the
    ticket): recorded as the evidence of the resolution, `media` counted as `照片2`; nothing is
    said in the group (a photo is not a command)."""
    return Outcome(events=(EventRecord("evidence", note=media or None, by=actor),))


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
                       mentions=(ticket.assignee_id,) if ticket.assignee_id else (),
                       to=Audience.HANDLER if ticket.assignee_id else Audience.HERE),
                 Reply(texts.CANCELLED_ELSEWHERE.format(number=ticket.id), to=Audience.CALLS)),
    )


def recall(ticket: Ticket, actor: Actor, now: datetime) -> Outcome:
    """撤回: the reporter took the 下单 message back. A ticket nobody has claimed is withdrawn
    (cancelled, the reason in its history) and the groups asked to act on it are told; a ticket
    someone handles is kept and its handler told; a finished one is left as it is."""
    if ticket.status == Status.OPEN:
        return Outcome(
            changes={"status": Status.CANCELLED, "closed_at": now},
            events=(EventRecord("recalled", Status.OPEN, Status.CANCELLED,
                                texts.RECALL_NOTE_WITHDRAWN),),
            replies=(Reply(texts.RECALLED.format(number=ticket.id), to=Audience.REPORTER),
                     Reply(texts.RECALLED_ELSEWHERE.format(number=ticket.id), to=Audience.CALLS)),
        )
    if ticket.status in (Status.CLAIMED, Status.RESOLVED) and ticket.assignee_id:
        return Outcome(
            events=(EventRecord("recalled", note=texts.RECALL_NOTE_KEPT),),
            replies=(Reply(texts.RECALLED_WHILE_HANDLED.format(number=ticket.id,
                                                               handler=ticket.assignee_name),
                           mentions=(ticket.assignee_id,), to=Audience.HANDLER),),
        )
    return Outcome()


def note_progress(ticket: Ticket, actor: Actor, progress: str) -> Outcome:
    """`进展`: the handler (or a co-handler, 协办) tells the reporter how it is going."""
    if refusal := _handler_only(ticket, actor, texts.ACTIONS["进展"], co_handlers_too=True):
        return refusal
    if not progress:
        return refuse(texts.PROGRESS_NEEDED.format(number=ticket.id))
    return Outcome(
        events=(EventRecord("progress", note=progress),),
        replies=(Reply(texts.PROGRESS_NOTED.format(number=ticket.id, progress=progress),
                       mentions=(ticket.reporter_id,), to=Audience.REPORTER),),
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
                       mentions=tuple(h for h in dict.fromkeys(heads) if h != actor.id),
                       to=Audience.WAITING),),
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
                       mentions=(member.id,), to=Audience.HANDLER),
                 Reply(texts.TRANSFERRED.format(number=ticket.id, handler=actor.name,
                                                target=member.name),
                       mentions=(ticket.reporter_id,), to=Audience.REPORTER)),
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
                       mentions=(member.id,), to=Audience.HANDLER),
                 Reply(texts.DISPATCHED_ELSEWHERE.format(number=ticket.id, dispatcher=actor.name,
                                                         target=member.name),
                       to=Audience.CALLS)),
    )


# -- 合并 / 拆分: heads link reports of one problem (一事多报), or undo a wrong link -------------

_MAY_LINK = (Role.HANDLER, Role.GRID_HEAD, Role.SUPERIOR)


def merge(ticket: Ticket, into: Ticket, actor: Actor, into_actor: Actor,
          households: int) -> tuple[Outcome, Outcome]:
    """`合并 #13 #12`: `ticket` (13) joins `into` (12), the same problem: it stops its timer and
    its reporter hears 12's claim and resolution from now on. By the handler or a head of each
    ticket's grid or above (`actor` and `into_actor` are the sender with their roles for each);
    `households` is how many households 12 counts once 13 has joined. Returns (13's outcome,
    12's outcome); a refusal is the first, with nothing for 12."""
    action = texts.ACTIONS["合并"]
    if ticket.id == into.id:
        return refuse(texts.MERGE_ITSELF.format(number=ticket.id)), Outcome()
    for each, roles in ((ticket, actor), (into, into_actor)):
        if refusal := _not_active(each, action):
            return refusal, Outcome()
        if not roles.is_any(*_MAY_LINK):
            return refuse(texts.NOT_A_HEAD_OF_TICKET.format(number=each.id, action=action)), Outcome()
    names = {"number": ticket.id, "parent": into.id}
    merged = Outcome(
        changes={"status": Status.MERGED, "parent_id": into.id},
        events=(EventRecord("merged", ticket.status, Status.MERGED, f"#{into.id}"),),
        # The reporter's notice first: where the head said it too, it is the one post there.
        replies=(Reply(texts.MERGED_TOLD.format(**names), mentions=(ticket.reporter_id,),
                       to=Audience.REPORTER),
                 Reply(texts.MERGE_DONE.format(**names, households=households), to=Audience.HERE)),
    )
    joined = Outcome(events=(EventRecord(
        "joined", note=f"#{ticket.id} {ticket.reporter_name}：{ticket.text}"),))
    return merged, joined


def split(ticket: Ticket, parent: Ticket | None, actor: Actor, parent_actor: Actor | None,
          heads: Iterable[str]) -> tuple[Outcome, Outcome]:
    """`拆分 #13`: a report joined by mistake becomes a ticket of its own again, waiting for a
    claim with a fresh timer; `heads` are called to claim it. By the handler or a head of its
    grid or above, or of the ticket it was joined to (`parent`, with `parent_actor` the sender's
    roles for it). Returns (13's outcome, the parent's outcome)."""
    action = texts.ACTIONS["拆分"]
    if ticket.status != Status.MERGED:
        return refuse(texts.NOT_MERGED.format(number=ticket.id)), Outcome()
    if not (actor.is_any(*_MAY_LINK) or (parent_actor is not None and parent_actor.is_any(*_MAY_LINK))):
        return refuse(texts.NOT_A_HEAD_OF_TICKET.format(number=ticket.id, action=action)), Outcome()
    names = {"number": ticket.id, "parent": ticket.parent_id}
    own = Outcome(
        changes={"status": Status.OPEN, "parent_id": None, "assignee_id": None,
                 "assignee_name": None, "claimed_at": None},
        events=(EventRecord("split", Status.MERGED, Status.OPEN, f"#{ticket.parent_id}"),),
        replies=(Reply(texts.SPLIT_CALL.format(**names), mentions=tuple(dict.fromkeys(heads)),
                       to=Audience.WAITING),
                 Reply(texts.SPLIT_DONE.format(**names), to=Audience.HERE)),
    )
    undone = Outcome(events=(EventRecord("split", note=f"#{ticket.id}"),)) if parent else Outcome()
    return own, undone


# -- 延期: more time, asked by the handler and granted by a head above ---------------------------

@dataclass(frozen=True)
class Extensions:
    """A ticket's extensions so far, from its history: how many were granted, and the amount
    and reason of one waiting for an answer (None when none waits)."""

    granted: int = 0
    waiting: tuple[timedelta | WorkingTime, str] | None = None


# The bot itself, as the actor of what it does on its own (an extension granted automatically).
BOT_ACTOR = Actor(id="gridbot", name=texts.BOT_NAME)


def ask_extension(ticket: Ticket, actor: Actor, amount: timedelta | WorkingTime | None,
                  reason: str, now: datetime, so_far: Extensions, most: int,
                  above: Node, auto_up_to: timedelta | WorkingTime | None = None,
                  timers: Timers | None = None, zone: tzinfo | None = None) -> Outcome:
    """`延期 #12 3工作日 等配件`: the handler asks, before the deadline, for more time; the head
    of `above` (the node one level up from the ticket's, or its own at the top) is asked in
    their group. At most `most` extensions per ticket (policy.extensions.max_per_ticket); one
    waits at a time (Beijing's 接诉即办 practice: extensions are asked for and approved above).

    An extension no longer than `auto_up_to` (policy.extensions.auto_grant_up_to; compared by
    the deadlines they give on `timers.calendar`, so `1wd` and `8h` compare as they would move
    this deadline) is granted at once, by the bot (BOT_ACTOR, the note saying so), and told in
    the handler's group; the head above is not asked. It counts against `most` as any other."""
    action = texts.ACTIONS["延期"]
    if refusal := _handler_only(ticket, actor, action):
        return refusal
    if amount is None or not reason:
        return refuse(texts.EXTENSION_USAGE)
    if ticket.deadline_at is None or now > ticket.deadline_at:
        return refuse(texts.EXTENSION_AFTER_DEADLINE.format(number=ticket.id))
    if so_far.waiting is not None:
        return refuse(texts.EXTENSION_PENDING.format(number=ticket.id))
    if so_far.granted >= most:
        return refuse(texts.EXTENSION_TOO_MANY.format(number=ticket.id, count=so_far.granted))
    shown = format_amount(amount)
    asked = EventRecord("extension_asked", note=f"{written_amount(amount)}：{reason}")
    if auto_up_to is not None and timers is not None and zone is not None \
            and _deadline_after(ticket.deadline_at, amount, timers) \
            <= _deadline_after(ticket.deadline_at, auto_up_to, timers):
        granted = _grant(ticket, amount, timers, zone, automatic=True)
        return Outcome(
            changes=granted.changes, events=(asked, *granted.events),
            replies=(Reply(texts.EXTENSION_AUTO_GRANTED.format(
                number=ticket.id, amount=shown, reason=reason, limit=format_amount(auto_up_to),
                deadline=granted.changes["deadline_at"].astimezone(zone).strftime(texts.TIME_FORMAT)),
                mentions=_who_to_tell(ticket, ()), to=Audience.HANDLER),))
    return Outcome(
        events=(asked,),
        replies=(Reply(texts.EXTENSION_ASKED.format(number=ticket.id, amount=shown, reason=reason,
                                                    handler=actor.name),
                       mentions=(above.head.id,), room=above.group.room),
                 Reply(texts.EXTENSION_ASKED_HERE.format(number=ticket.id), to=Audience.HERE)),
    )


def decide_extension(ticket: Ticket, actor: Actor, granted: bool, reason: str,
                     so_far: Extensions, timers: Timers, zone: tzinfo) -> Outcome:
    """`同意延期 #12` / `不同意延期 #12 原因`: a head above the ticket's grid answers the waiting
    request. Granted, the deadline moves by the amount asked (on the working calendar when it is
    in working time) and the escalation waits for it; refused, the handler is told why."""
    action = texts.ACTIONS["同意延期"]
    if not actor.is_any(Role.SUPERIOR):
        return refuse(texts.NOT_SUPERIOR.format(number=ticket.id, action=action))
    if actor.id == ticket.assignee_id:   # a handler standing in above answers no request of theirs
        return refuse(texts.EXTENSION_OWN.format(number=ticket.id))
    if refusal := _not_active(ticket, action):
        return refusal
    if so_far.waiting is None or ticket.deadline_at is None:
        return refuse(texts.NO_EXTENSION_ASKED.format(number=ticket.id))
    amount, _ = so_far.waiting
    if not granted:
        if not reason:
            return refuse(texts.REASON_NEEDED.format(example=texts.EXAMPLES["不同意延期"]))
        return Outcome(
            events=(EventRecord("extension_refused", note=reason),),
            replies=(Reply(texts.EXTENSION_REFUSED.format(
                number=ticket.id, reason=reason,
                deadline=ticket.deadline_at.astimezone(zone).strftime(texts.TIME_FORMAT)),
                mentions=_who_to_tell(ticket, ()), to=Audience.HANDLER),))
    return _grant(ticket, amount, timers, zone, automatic=False)


def _deadline_after(deadline: datetime, amount: timedelta | WorkingTime, timers: Timers) -> datetime:
    calendar = timers.calendar
    return calendar.after(deadline, amount) if calendar is not None \
        else deadline + amount  # type: ignore[operator]


def _grant(ticket: Ticket, amount: timedelta | WorkingTime, timers: Timers, zone: tzinfo,
           automatic: bool) -> Outcome:
    """The deadline moves by `amount` (on the working calendar when it is in working time) and
    the escalation waits for it; granted by the bot when `automatic`."""
    assert ticket.deadline_at is not None
    deadline = _deadline_after(ticket.deadline_at, amount, timers)
    due = ticket.escalation_due_at
    shown = deadline.astimezone(zone).strftime(texts.TIME_FORMAT)
    note = f"{written_amount(amount)} → {shown}" + (texts.EXTENSION_AUTO_NOTE if automatic else "")
    return Outcome(
        changes={"deadline_at": deadline,
                 "escalation_due_at": deadline if due is None or due < deadline else due},
        events=(EventRecord("extension_granted", note=note,
                            by=BOT_ACTOR if automatic else None),),
        replies=(Reply(texts.EXTENSION_GRANTED.format(number=ticket.id,
                                                      amount=format_amount(amount), deadline=shown),
                       mentions=_who_to_tell(ticket, ()), to=Audience.HANDLER),))


def written_amount(amount: timedelta | WorkingTime) -> str:
    """An amount as config.yaml writes it (`3wd`, `2d`), the form the history keeps."""
    return amount.as_config() if isinstance(amount, WorkingTime) else format_duration(amount)


def format_amount(amount: timedelta | WorkingTime) -> str:
    """An amount as chat shows it: `3个工作日`, `2天`."""
    return str(amount) if isinstance(amount, WorkingTime) else format_chinese_duration(amount)


def end_notice(ticket: Ticket, now: datetime) -> Outcome:
    """An area-wide notice (公告) reaches its end time: it closes, and the head who posted it
    and every household whose report joined it are told."""
    if ticket.status != Status.CLAIMED or ticket.notice_until is None:
        return Outcome()
    return Outcome(
        changes={"status": Status.CLOSED, "closed_at": now},
        events=(EventRecord("notice_ended", Status.CLAIMED, Status.CLOSED),),
        replies=(Reply(texts.NOTICE_ENDED.format(number=ticket.id, text=ticket.text),
                       mentions=(ticket.reporter_id,), to=Audience.REPORTER),),
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


def supervise(ticket: Ticket, actor: Actor, note: str, heads: Iterable[str]) -> Outcome:
    """`督办`: a head above the ticket's grid nudges whoever has it, in the handler's group (the
    heads who must claim it where it waits, while nobody has); the supervisor is told it was
    done when they wrote from another group."""
    action = texts.ACTIONS["督办"]
    if not actor.is_any(Role.SUPERIOR):
        return refuse(texts.NOT_SUPERIOR.format(number=ticket.id, action=action))
    if refusal := _not_active(ticket, action):
        return refusal
    nudge = Reply(texts.SUPERVISED.format(
        number=ticket.id, supervisor=actor.name,
        note=texts.SUPERVISION_NOTE.format(note=note) if note else ""),
        mentions=_who_to_tell(ticket, heads), to=Audience.HANDLER)
    # Where the supervisor wrote, unless the nudge itself went there.
    sent = Reply(texts.SUPERVISION_SENT.format(number=ticket.id), to=Audience.HERE)
    return Outcome(events=(EventRecord("supervised", note=note or None),),
                   replies=(nudge, sent))


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


# -- 改类 / 改紧急 / 改一般: heads correct what the machine read ------------------------------------

# Events whose note is `before → after` in codes (a category code; `urgent` / `normal`).
RETIMING_EVENTS = frozenset({"recategorized", "urgency_changed"})
_URGENCY_CODES = {True: "urgent", False: "normal"}
_ARROW = " → "


def shown_note(kind: str, note: str) -> str:
    """An event's note as people read it: a correction's codes in Chinese (`报修 → 安全隐患`),
    an extension's amount in words (`3个工作日：等配件`)."""
    if kind in ("extension_asked", "extension_granted"):
        amount, rest = read_amount(note)
        if amount is None:
            return note
        return f"{format_amount(amount)}{' ' if rest.startswith('→') else ''}{rest}"
    if kind not in RETIMING_EVENTS or _ARROW not in note:
        return note
    names = {**texts.CATEGORY_NAMES,
             **{code: texts.URGENCY_NAMES[urgent] for urgent, code in _URGENCY_CODES.items()}}
    return _ARROW.join(names.get(part, part) for part in note.split(_ARROW, 1))


def _may_correct(ticket: Ticket, actor: Actor, action: str) -> Outcome | None:
    if actor.is_any(Role.HANDLER, Role.GRID_HEAD, Role.SUPERIOR, Role.ESCALATED_TO):
        return None
    return refuse(texts.NOT_A_CORRECTOR.format(number=ticket.id, action=action))


def recategorize(ticket: Ticket, actor: Actor, category: str | None, written: str) -> Outcome:
    """`改类 #N 报修`: the handler or a head of the ticket's grid or above sets its category.
    `category` is the code read from `written` (None when it names none: the refusal lists the
    categories). The event's note is `before → after` in codes, the labelled data of
    `corrections`."""
    action = texts.ACTIONS["改类"]
    if refusal := _may_correct(ticket, actor, action):
        return refusal
    names = "、".join(texts.CATEGORY_NAMES.values())
    if category is None:
        if not written.strip():
            return refuse(texts.CATEGORY_NEEDED.format(number=ticket.id, names=names))
        return refuse(texts.UNKNOWN_CATEGORY.format(name=written.strip()[:10], names=names))
    if category == ticket.category:
        return refuse(texts.ALREADY_CATEGORY.format(
            number=ticket.id, category=texts.CATEGORY_NAMES.get(category, category)))
    return Outcome(
        changes={"category": category},
        events=(EventRecord("recategorized", note=f"{ticket.category}{_ARROW}{category}"),),
        replies=(Reply(texts.RECATEGORIZED.format(
            number=ticket.id, handler=actor.name,
            category=texts.CATEGORY_NAMES.get(category, category),
            previous=texts.CATEGORY_NAMES.get(ticket.category, ticket.category))),),
    )


def change_urgency(ticket: Ticket, actor: Actor, urgent: bool) -> Outcome:
    """`改紧急 #N` / `改一般 #N`: the handler or a head of the ticket's grid or above sets its
    urgency; its timers follow (`retimed`, applied with the event)."""
    action = texts.ACTIONS["改紧急"]
    if refusal := _may_correct(ticket, actor, action):
        return refusal
    if bool(ticket.urgent) == urgent:
        return refuse(texts.ALREADY_URGENCY.format(number=ticket.id,
                                                   urgency=texts.URGENCY_NAMES[urgent]))
    template = (texts.URGENCY_CHANGED if ticket.status in (Status.OPEN, Status.CLAIMED)
                else texts.URGENCY_CHANGED_CLOSED)
    return Outcome(
        changes={"urgent": urgent},
        events=(EventRecord("urgency_changed",
                            note=f"{_URGENCY_CODES[bool(ticket.urgent)]}{_ARROW}{_URGENCY_CODES[urgent]}"),),
        replies=(Reply(template.format(number=ticket.id, handler=actor.name,
                                       urgency=texts.URGENCY_NAMES[urgent],
                                       previous=texts.URGENCY_NAMES[bool(ticket.urgent)])),),
    )


def retimed(clock: EscalationClock, status: Status, before: Timers, after: Timers,
            now: datetime) -> EscalationClock:
    """The escalation clock of an open or claimed ticket whose timers changed (its urgency or
    category was corrected): the running limit counted again from when the clock started, as if
    the ticket had been read so at first; levels it already climbed keep their place, each
    `escalate_every` scaled to the new one. Never due before `now`, so a correction makes at
    most one escalation at the next scan. A stopped clock stays stopped."""
    if clock.due_at is None or clock.started_at is None \
            or status not in (Status.OPEN, Status.CLAIMED):
        return clock
    limit = "claim_within" if status == Status.OPEN else "resolve_within"
    old_deadline = clock.deadline_at or before.deadline(clock.started_at, limit)
    deadline = after.deadline(clock.started_at, limit)
    climbed = max(clock.due_at - old_deadline, timedelta(0))
    climbed = climbed * (after.escalate_every / before.escalate_every)
    return EscalationClock(clock.started_at, max(deadline + climbed, now), deadline)


# -- corrections as labelled data (`gridbot parse --corrections`) ----------------------------------

LABEL_KEYS = ("text", "is_request", "category", "urgent", "building", "unit", "floor", "room",
              "description")


@dataclass(frozen=True)
class Correction:
    """A ticket a head corrected: what the machine read and the row of labelled data it makes
    (the keys of tests/data/LABELLING.md, in their order: category and urgency as corrected,
    the location as the parser read it)."""

    machine_category: str
    machine_urgent: bool
    label: dict[str, Any]

    @property
    def category(self) -> str:
        return self.label["category"]

    @property
    def urgent(self) -> bool:
        return self.label["urgent"]


def correction(ticket: Ticket, events: Iterable[TicketEvent]) -> Correction | None:
    """The labelled row of a ticket from its corrections (`recategorized`, `urgency_changed`
    events, oldest first); None when nobody corrected it."""
    machine_category, machine_urgent, corrected = ticket.category, bool(ticket.urgent), False
    seen: set[str] = set()
    for event in events:
        if event.kind not in RETIMING_EVENTS or not event.note or _ARROW not in event.note:
            continue
        corrected = True
        if event.kind in seen:
            continue  # the first correction says what the machine read
        seen.add(event.kind)
        before = event.note.split(_ARROW, 1)[0]
        if event.kind == "recategorized":
            machine_category = before
        else:
            machine_urgent = before == _URGENCY_CODES[True]
    if not corrected:
        return None
    description = ticket.text.strip()
    label = dict(zip(LABEL_KEYS, (
        f"下单 {description}", True, ticket.category, bool(ticket.urgent), ticket.building,
        ticket.unit, ticket.floor, ticket.room, description)))
    return Correction(machine_category, machine_urgent, label)


def corrections_report(corrections: Iterable[Correction]) -> str:
    """Corrections per category (what the machine said → what the head said, with counts,
    most first within each machine category) and per urgency, as lines of text."""
    corrections = list(corrections)
    categories = Counter((c.machine_category, c.category) for c in corrections
                         if c.machine_category != c.category)
    urgency = Counter((c.machine_urgent, c.urgent) for c in corrections
                      if c.machine_urgent != c.urgent)
    lines = [f"corrections: {len(corrections)} ticket(s), {sum(categories.values())} category, "
             f"{sum(urgency.values())} urgency"]
    if categories:
        lines.append("category, machine → head:")
        by_machine = Counter()
        for (machine, _), count in categories.items():
            by_machine[machine] += count
        for machine, total in sorted(by_machine.items(), key=lambda item: (-item[1], item[0])):
            pairs = sorted(((head, count) for (m, head), count in categories.items() if m == machine),
                           key=lambda item: (-item[1], item[0]))
            lines.append(f"  {machine:<11} {total:>4}  " + ", ".join(
                f"→ {head} {count}" for head, count in pairs))
    if urgency:
        lines.append("urgent, machine → head:")
        for (machine, head), count in sorted(urgency.items(), key=lambda item: -item[1]):
            lines.append(f"  {_URGENCY_CODES[machine]} → {_URGENCY_CODES[head]}  {count:>4}")
    return "\n".join(lines)
