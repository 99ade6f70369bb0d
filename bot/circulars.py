"""Circulars (通知下发) in the database: sending one into every group below its node through the
outbox, its receipts, `通知情况`, the scheduled sends and the reminder the scheduler runs, the
sender's digest lines and the history the API shows. The rules are `flows.circulars`'.

A circular's posts are written like every other post (`bot.outbox.write_many`: split, paced per
group), in the transaction that records which group got which post (`circular_delivery`, unique
per circular and group, so no group gets it twice); a scheduled or deferred one is written by the
scheduler's sweep, locked so that two bots sharing the database write it once. Its text is an
official's own words, not a resident's data: it is posted unmasked at every level.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.outbox import PostPipeline, post_values, write_many
from flows import texts
from flows.circulars import (DeliveryState, elapsed_text, in_quiet_hours, is_circular_header,
                             is_receipt, mentions_receipt, quoted_circular, read_circular,
                             receipt_answers_circular, recipients, reminder_due, send_time,
                             silent)
from flows.commands import find_ticket_reference, recognize
from flows.config import GridConfig, Node, Policy
from flows.lifecycle import Reply
from flows.network import Network, role_ids
from flows.own_posts import nearly_same
from models.db import Database
from models.subtrees import in_subtree
from models.tables import (Circular, CircularDelivery, CircularReceipt, OutboundPost, Status,
                           Ticket)

if TYPE_CHECKING:
    from bot.dispatch import Context, Dispatcher
    from bot.transport import IncomingMessage

CIRCULARS, DELIVERIES, RECEIPTS = (model.__table__ for model in (
    Circular, CircularDelivery, CircularReceipt))
_POSTS = OutboundPost.__table__
CHUNK = 2_000      # groups written per statement: a city's circular in bounded pieces
SWEEP_BATCH = 20   # circulars a sweep sends or reminds per transaction
LISTED = 30        # silent groups named in a `通知情况` answer; the rest are counted
DIGEST_LISTED = 5  # silent groups named per circular in a digest


@dataclass(frozen=True)
class Issued:
    """A circular accepted: its number, how many groups it goes to, and when (`sent` when its
    posts are in the outbox already)."""

    number: int
    groups: int
    send_at: datetime
    sent: bool


def recipient_nodes(network: Network, node: Node, down_to: str | None) -> list[Node]:
    """The groups below `node` a circular goes to (`flows.circulars.recipients`)."""
    first, last = network.intervals[node.id]
    order = network.order
    level_of: dict[str, int] = {}
    limit = None
    if down_to is not None and down_to in network.levels:
        limit = network.levels.index(down_to)
        level_of = {node_id: network.level_index(node_id) for node_id in order[first + 1:last + 1]}
    return [network.node(node_id) for node_id in recipients(order, first, last, level_of, limit)]


def sender_label(node: Node, sender_name: str) -> str:
    """How a circular names who sent it: the node, then the person (`百宜社区 李文华`)."""
    return f"{node.name} {sender_name}".strip()


def issue(session: Session, network: Network, pipeline: PostPipeline, policy: Policy, *,
          node: Node, sender_id: str, label: str, text: str, urgent: bool,
          down_to: str | None, source_id: str, room: str | None, now: datetime,
          wanted: datetime | None = None) -> Issued | None:
    """Record a circular from `node` (its groups below, down to the level `down_to`) and, when it
    may go now, write its posts; None when there is no group below. It goes at `wanted` (a
    scheduled time) or now, and a circular that is not urgent waits for the end of quiet hours
    (`flows.circulars.send_time`). `label` names the sender in the posts (`sender_label`)."""
    targets = recipient_nodes(network, node, down_to)
    if not targets:
        return None
    at = send_time(now, urgent, policy.quiet_hours, ZoneInfo(policy.timezone), wanted)
    number = session.execute(insert(CIRCULARS).returning(CIRCULARS.c.id), {
        "source_message_id": source_id, "node_id": node.id, "room": room, "sender_id": sender_id,
        "sender_name": label, "text": text, "urgent": urgent, "down_to": down_to,
        "created_at": now, "send_at": at, "groups": len(targets)}).scalar_one()
    # A big one is the scheduler's to write (policy.circulars.write_at_once_up_to).
    sent = at <= now and len(targets) <= policy.circulars.write_at_once_up_to
    if sent:
        post(session, pipeline, policy, number, label, text, urgent, targets, now, source_id)
    return Issued(number, len(targets), at, sent)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def post(session: Session, pipeline: PostPipeline, policy: Policy, number: int, label: str,
         text: str, urgent: bool, targets: list[Node], now: datetime,
         reply_to: str | None = None) -> int:
    """Write the circular's post into each target group (an urgent one @-mentions the group's
    head) and its delivery rows, in `CHUNK`s; mark it sent. Returns how many groups."""
    template = texts.CIRCULAR_URGENT_POST if urgent else texts.CIRCULAR_POST
    body = template.format(number=number, sender=label, text=text)
    for chunk in _chunks(targets):
        rows = [post_values(Reply(body, mentions=(node.head.id,) if urgent else (),
                                  room=node.group.room), node.group.room, reply_to, now)
                for node in chunk]
        first = write_many(session, rows, pipeline, official=True)
        session.execute(insert(DELIVERIES), [
            {"circular_id": number, "node_id": node.id, "room": node.group.room,
             "head_id": node.head.id, "posted_at": now, "post_id": first.get(node.group.room)}
            for node in chunk])
    session.execute(update(CIRCULARS).where(CIRCULARS.c.id == number).values(
        sent_at=now, groups=len(targets), remind_at=now + policy.circulars.remind_after))
    return len(targets)


# -- receipts -------------------------------------------------------------------------------

def delivered_here(session: Session, number: int, node_id: str) -> bool:
    """Whether circular `number` was posted into `node_id`'s group."""
    return session.execute(select(DELIVERIES.c.id).where(
        DELIVERIES.c.circular_id == number, DELIVERIES.c.node_id == node_id)).first() is not None


def record_receipt(db: Database, session: Session, number: int, node_id: str, member_id: str,
                   member_name: str, by_head: bool, at: datetime, message_id: str) -> bool:
    """Keep a member's `收到` to circular `number` in `node_id`'s group (once per member and
    group); True when it is the first confirmation of the group's head (or deputy, or stand-in),
    which is what `通知情况` and the reminder count."""
    session.execute(db.insert_unless_present(RECEIPTS, ["circular_id", "node_id", "member_id"]), {
        "circular_id": number, "node_id": node_id, "member_id": member_id,
        "member_name": member_name, "by_head": by_head, "at": at, "message_id": message_id})
    if not by_head:
        return False
    return session.execute(update(DELIVERIES).where(
        DELIVERIES.c.circular_id == number, DELIVERIES.c.node_id == node_id,
        DELIVERIES.c.head_receipt_at.is_(None)).values(
        head_receipt_at=at, head_receipt_by=member_id)).rowcount == 1


def awaiting(session: Session, room: str, member_id: str, since: datetime
             ) -> tuple[int, datetime] | None:
    """The newest circular posted into `room` since `since` that `member_id` has not
    acknowledged there: (number, when it was posted); None when there is none."""
    acknowledged = select(RECEIPTS.c.id).where(RECEIPTS.c.circular_id == DELIVERIES.c.circular_id,
                                               RECEIPTS.c.node_id == DELIVERIES.c.node_id,
                                               RECEIPTS.c.member_id == member_id)
    row = session.execute(select(DELIVERIES.c.circular_id, DELIVERIES.c.posted_at).where(
        DELIVERIES.c.room == room, DELIVERIES.c.posted_at >= since, ~acknowledged.exists())
        .order_by(DELIVERIES.c.posted_at.desc(), DELIVERIES.c.id.desc()).limit(1)).first()
    return None if row is None else (row[0], row[1])


def newest_waiting_ticket(session: Session, node_id: str) -> datetime | None:
    """When the newest ticket waiting for its claim in `node_id`'s group was reported."""
    return session.execute(select(func.max(Ticket.created_at)).where(
        Ticket.node_id == node_id, Ticket.status == Status.OPEN)).scalar()


# -- 通知情况 -------------------------------------------------------------------------------

def find(session: Session, number: int) -> Any | None:
    """The circular's row, or None."""
    return session.execute(select(CIRCULARS).where(CIRCULARS.c.id == number)).first()


def states(session: Session, network: Network, number: int,
           within: tuple[int, int] | None = None) -> list[DeliveryState]:
    """Each group circular `number` was posted into, in order, with its receipts; only the
    groups whose depth-first position lies in `within` (a subtree's interval) when given."""
    residents = Counter(dict(session.execute(
        select(RECEIPTS.c.node_id, func.count()).where(RECEIPTS.c.circular_id == number,
                                                       RECEIPTS.c.by_head.is_(False))
        .group_by(RECEIPTS.c.node_id)).all()))
    out = []
    for node_id, head_id, confirmed in session.execute(
            select(DELIVERIES.c.node_id, DELIVERIES.c.head_id, DELIVERIES.c.head_receipt_at)
            .where(DELIVERIES.c.circular_id == number).order_by(DELIVERIES.c.id)):
        node = network.get(node_id)
        if within is not None and (node is None or not
                                   within[0] <= network.intervals[node_id][0] <= within[1]):
            continue
        out.append(DeliveryState(node_id, node.group.name if node else node_id,
                                 network.member_name(head_id) or head_id, confirmed is not None,
                                 residents[node_id]))
    return out


def status_reply(session: Session, network: Network, circular: Any, zone: ZoneInfo) -> Reply:
    """The answer to `通知情况 #N`: how many groups got it, how many heads confirmed, how many
    groups have residents' receipts, and the groups whose head is silent (the first `LISTED`)."""
    if circular.sent_at is None:
        return Reply(texts.CIRCULAR_NOT_SENT_YET.format(
            number=circular.id, at=circular.send_at.astimezone(zone).strftime(texts.TIME_FORMAT)))
    every = states(session, network, circular.id)
    quiet = silent(every)
    lines = [texts.CIRCULAR_STATUS.format(
        number=circular.id, sent=circular.sent_at.astimezone(zone).strftime(texts.TIME_FORMAT),
        sender=circular.sender_name, count=len(every), confirmed=len(every) - len(quiet),
        residents=sum(1 for state in every if state.residents))]
    if not quiet:
        lines.append(texts.CIRCULAR_ALL_CONFIRMED)
    else:
        lines.append(texts.CIRCULAR_SILENT_HEADER.format(count=len(quiet)))
        lines += [texts.CIRCULAR_SILENT_LINE.format(group=state.group, head=state.head)
                  for state in quiet[:LISTED]]
        if len(quiet) > LISTED:
            lines.append(texts.CIRCULAR_SILENT_MORE.format(count=len(quiet) - LISTED))
    return Reply("\n".join(lines))


# -- the scheduler's sweeps -----------------------------------------------------------------

def send_due(config: GridConfig, db: Database, network: Network, now: datetime) -> int:
    """Write the posts of every circular due by `now` and not sent yet (scheduled through the
    API, or deferred past quiet hours); one that is not urgent waits while quiet hours last.
    Returns how many groups they went to."""
    policy = config.policy
    quiet = in_quiet_hours(now, policy.quiet_hours, ZoneInfo(policy.timezone))
    pipeline = PostPipeline.of(config, network)
    posts = 0
    while True:
        with db.session() as session:
            query = select(Circular).where(Circular.sent_at.is_(None), Circular.send_at <= now)
            if quiet:
                query = query.where(Circular.urgent.is_(True))
            due = session.scalars(query.order_by(Circular.send_at, Circular.id)
                                  .limit(SWEEP_BATCH).with_for_update(skip_locked=True)).all()
            for circular in due:
                node = network.get(circular.node_id)
                targets = recipient_nodes(network, node, circular.down_to) if node else []
                if not targets:   # the node left the network since: nothing to post
                    circular.sent_at = now
                    continue
                posts += post(session, pipeline, policy, circular.id, circular.sender_name,
                              circular.text, circular.urgent, targets, now)
                session.expire(circular)
        if len(due) < SWEEP_BATCH:
            return posts


def remind_due(config: GridConfig, db: Database, network: Network, now: datetime) -> int:
    """Remind, once, the heads of the groups that have not confirmed a circular within
    `policy.circulars.remind_after` of its sending: a post in each such group @-mentioning its
    head. Quiet hours hold back the reminders of circulars that are not urgent. Returns how
    many heads were reminded."""
    policy = config.policy
    zone = ZoneInfo(policy.timezone)
    quiet = in_quiet_hours(now, policy.quiet_hours, zone)
    pipeline = PostPipeline.of(config, network)
    posts = 0
    while True:
        with db.session() as session:
            query = select(Circular).where(Circular.reminded_at.is_(None),
                                           Circular.remind_at <= now)
            if quiet:
                query = query.where(Circular.urgent.is_(True))
            due = session.scalars(query.order_by(Circular.remind_at, Circular.id)
                                  .limit(SWEEP_BATCH).with_for_update(skip_locked=True)).all()
            acted = 0
            for circular in due:
                # `remind_at` finds them by index; the rule decides, with today's policy.
                if not reminder_due(circular.sent_at, circular.reminded_at,
                                    policy.circulars.remind_after, now):
                    continue
                circular.reminded_at = now
                posts += _remind(session, pipeline, circular, now)
                acted += 1
        if len(due) < SWEEP_BATCH or not acted:
            return posts


def _remind(session: Session, pipeline: PostPipeline, circular: Circular, now: datetime) -> int:
    silent_rows = session.execute(select(DELIVERIES.c.id, DELIVERIES.c.room, DELIVERIES.c.head_id)
                                  .where(DELIVERIES.c.circular_id == circular.id,
                                         DELIVERIES.c.head_receipt_at.is_(None))
                                  .order_by(DELIVERIES.c.id)).all()
    text = texts.CIRCULAR_REMINDER.format(
        number=circular.id, sender=circular.sender_name, text=circular.text,
        elapsed=elapsed_text(now - (circular.sent_at or now)))
    for chunk in _chunks(silent_rows):
        rows = [post_values(Reply(text, mentions=(head_id,), room=room), room, None, now)
                for _, room, head_id in chunk]
        first = write_many(session, rows, pipeline, official=True)
        session.execute(update(DELIVERIES).where(DELIVERIES.c.id == bindparam("delivery"))
                        .values(reminder_post_id=bindparam("post")),
                        [{"delivery": delivery_id, "post": first.get(room)}
                         for delivery_id, room, _ in chunk])
    return len(silent_rows)


# -- the sender's digest, the API's history -------------------------------------------------

def digest_lines(session: Session, network: Network, node_id: str, since: datetime,
                 end: datetime, zone: ZoneInfo) -> list[str]:
    """For the digest of `node_id`: each circular it sent in [since, end) whose groups have not
    all confirmed, with the first `DIGEST_LISTED` silent groups; [] when there is none."""
    sent = session.execute(select(CIRCULARS.c.id, CIRCULARS.c.sent_at).where(
        CIRCULARS.c.node_id == node_id, CIRCULARS.c.sent_at >= since, CIRCULARS.c.sent_at < end)
        .order_by(CIRCULARS.c.id)).all()
    lines = []
    for number, sent_at in sent:
        counts = session.execute(select(func.count(), func.count(DELIVERIES.c.head_receipt_at))
                                 .where(DELIVERIES.c.circular_id == number)).one()
        total, confirmed = counts
        if total == confirmed:
            continue
        first_silent = session.execute(select(DELIVERIES.c.node_id).where(
            DELIVERIES.c.circular_id == number, DELIVERIES.c.head_receipt_at.is_(None))
            .order_by(DELIVERIES.c.id).limit(DIGEST_LISTED)).scalars().all()
        names = "、".join(network.node(n).group.name if n in network else n for n in first_silent)
        if total - confirmed > DIGEST_LISTED:
            names += "…"
        lines.append(texts.DIGEST_CIRCULAR_LINE.format(
            number=number, sent=sent_at.astimezone(zone).strftime(texts.TIME_FORMAT),
            silent=total - confirmed, count=total, groups=names))
    return [texts.DIGEST_CIRCULARS, *lines] if lines else []


def visible(network: Network, scope_node_id: str, circular_node_id: str) -> bool:
    """Whether a token scoped to `scope_node_id` sees a circular sent from `circular_node_id`:
    one sent within its subtree, or from above into it (then only its own groups' part)."""
    if circular_node_id not in network:
        return False
    first, last = network.intervals[scope_node_id]
    position = network.intervals[circular_node_id][0]
    return first <= position <= last or circular_node_id in network.chain(scope_node_id)


def history(session: Session, network: Network, scope_node_id: str, number: int
            ) -> dict[str, Any] | None:
    """Circular `number` as a token scoped to `scope_node_id` may see it: who sent it, when,
    and each group of that subtree it was posted into (written, delivered by the chat service,
    the head's receipt, residents' receipts); None when it is not visible there."""
    circular = find(session, number)
    if circular is None or not visible(network, scope_node_id, circular.node_id):
        return None
    within = network.intervals[scope_node_id]
    rows = session.execute(
        select(DELIVERIES.c.node_id, DELIVERIES.c.room, DELIVERIES.c.posted_at,
               _POSTS.c.delivered_at, DELIVERIES.c.head_receipt_at, DELIVERIES.c.head_receipt_by,
               DELIVERIES.c.reminder_post_id)
        .select_from(DELIVERIES.outerjoin(_POSTS, _POSTS.c.id == DELIVERIES.c.post_id))
        .where(DELIVERIES.c.circular_id == number).order_by(DELIVERIES.c.id)).all()
    residents = dict(session.execute(
        select(RECEIPTS.c.node_id, func.count()).where(RECEIPTS.c.circular_id == number,
                                                       RECEIPTS.c.by_head.is_(False))
        .group_by(RECEIPTS.c.node_id)).all())
    groups = []
    for row in rows:
        node = network.get(row.node_id)
        if node is None or not within[0] <= network.intervals[row.node_id][0] <= within[1]:
            continue
        groups.append({"node_id": row.node_id, "group": node.group.name,
                       "head": node.head.name, "posted_at": row.posted_at,
                       "delivered_at": row.delivered_at, "head_receipt_at": row.head_receipt_at,
                       "head_receipt_by": (network.member_name(row.head_receipt_by)
                                           or row.head_receipt_by) if row.head_receipt_by else None,
                       "resident_receipts": residents.get(row.node_id, 0),
                       "reminded": row.reminder_post_id is not None})
    return {"number": circular.id, "node_id": circular.node_id, "sender": circular.sender_name,
            "text": circular.text, "urgent": circular.urgent, "down_to": circular.down_to,
            "created_at": circular.created_at, "send_at": circular.send_at,
            "sent_at": circular.sent_at, "reminded_at": circular.reminded_at,
            "groups": groups}


def listing(session: Session, network: Network, scope_node_id: str,
            limit: int = 50) -> list[dict[str, Any]]:
    """The newest circulars a token scoped to `scope_node_id` sees (`visible`), newest first,
    with how many of its subtree's groups got each and how many heads confirmed."""
    chain = list(network.chain(scope_node_id))
    first, last = network.intervals[scope_node_id]
    inside = [node_id for node_id in network.order[first:last + 1]]
    candidates = [*chain, *inside] if len(inside) < 5_000 else None
    query = select(CIRCULARS).order_by(CIRCULARS.c.id.desc()).limit(limit * 4 if candidates is None else limit)
    if candidates is not None:
        query = query.where(CIRCULARS.c.node_id.in_(candidates))
    out = []
    for circular in session.execute(query).all():
        if not visible(network, scope_node_id, circular.node_id):
            continue
        # Counted by the database over the subtree's range (models/subtrees.py).
        groups, confirmed = session.execute(
            select(func.count(), func.count(DELIVERIES.c.head_receipt_at)).where(
                DELIVERIES.c.circular_id == circular.id,
                in_subtree(network, scope_node_id, DELIVERIES.c.node_id))).one()
        out.append({"number": circular.id, "sender": circular.sender_name, "text": circular.text,
                    "urgent": circular.urgent, "created_at": circular.created_at,
                    "sent_at": circular.sent_at, "send_at": circular.send_at,
                    "groups": groups, "confirmed": confirmed})
        if len(out) == limit:
            break
    return out



# -- in chat: the commands, the receipts, a paste ------------------------------------------------

def _heads_here(dispatcher: Dispatcher, context: Context) -> list[str]:
    """The sender and the heads they stand in for (请假 … 代理)."""
    return [context.message.sender_id, *dispatcher.standing_in_for(context)]


def leading_node(dispatcher: Dispatcher, context: Context) -> Node | None:
    """The node of the group or above it that the sender (or a head they stand in for) heads
    or deputises; None when they lead none of them."""
    heads = set(_heads_here(dispatcher, context))
    chain = [context.group, *dispatcher.network.ancestors(context.group.id)]
    return next((node for node in chain if heads & role_ids(node)), None)


def send(urgent: bool):
    """The handler of `通知 <text>` (`urgent`: `紧急通知 <text>`): a head of the group (or above)
    sends a circular into every group below the group's node, down to the level written first
    (`通知 支部 …`). Residents saying `通知：…` (a property company's notice pasted, say) are
    talk: no answer."""

    def handler(dispatcher: Dispatcher, context: Context) -> list[Reply]:
        network, message = dispatcher.network, context.message
        leader = leading_node(dispatcher, context)
        if leader is None:
            if network.leads_anything(message.sender_id):
                return [Reply(texts.NOT_A_CIRCULAR_HEAD)]
            return []
        request = read_circular(context.command.rest, network.levels)
        if not request.text:
            return [Reply(texts.CIRCULAR_USAGE)]
        name = network.member_name(message.sender_id) or message.sender_name
        policy = dispatcher.config.policy
        issued = issue(context.session, network, dispatcher.pipeline, policy, node=context.group,
                       sender_id=message.sender_id, label=sender_label(leader, name), text=request.text, urgent=urgent,
                       down_to=request.down_to, source_id=message.id, room=message.room,
                       now=message.at)
        if issued is None:
            return [Reply(texts.CIRCULAR_NO_GROUPS)]
        if issued.sent:
            return [Reply(texts.CIRCULAR_SENT.format(number=issued.number, count=issued.groups))]
        if issued.send_at <= message.at:
            return [Reply(texts.CIRCULAR_QUEUED.format(number=issued.number, count=issued.groups))]
        at = issued.send_at.astimezone(dispatcher.zone)
        return [Reply(texts.CIRCULAR_SCHEDULED.format(
            number=issued.number, count=issued.groups, at=at.strftime(texts.TIME_FORMAT)))]

    return handler


def may_see(network: Network, heads: list[str], circular: Any) -> bool:
    """Who may ask `通知情况`: its sender, or a head or deputy of its node or above."""
    if circular.sender_id in heads:
        return True
    if circular.node_id not in network:
        return False
    return any(set(heads) & role_ids(network.node(node_id))
               for node_id in network.chain(circular.node_id))


def show_status(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """`通知情况 #7` (or quoting the circular): how many groups confirmed, and the silent ones."""
    network, session = dispatcher.network, context.session
    numbers, _ = context.command.ticket_numbers()
    number = numbers[0] if numbers else quoted_circular(context.message.quoted)
    if number is None:
        if not network.leads_anything(context.message.sender_id):
            return []
        return [Reply(texts.CIRCULAR_NUMBER_NEEDED)]
    circular = find(session, number)
    if circular is None or not may_see(network, _heads_here(dispatcher, context), circular):
        return [Reply(texts.CIRCULAR_NOT_FOUND.format(number=number))]
    return [status_reply(session, network, circular, dispatcher.zone)]


def receipt(dispatcher: Dispatcher, session: Session, message: IncomingMessage,
            group: Node, heads_here: list[str]) -> list[Reply] | None:
    """A `收到` to a circular, by the rule of `flows.circulars`: quoting it, or bare. Returns the
    replies (a head's first confirmation is acknowledged; a resident's is counted silently),
    or None when the message is no receipt (it is then read as anything else is)."""
    number = quoted_circular(message.quoted)
    if number is None and "收到" not in message.text:
        return None   # most messages: no reading needed
    if number is not None:
        # A command written out (`接单 #3`) is that command, quote or not.
        if not mentions_receipt(message.text) or recognize(message.text) is not None \
                or not delivered_here(session, number, group.id):
            return None
    else:
        if not is_receipt(message.text):
            return None
        window = dispatcher.config.policy.circulars.receipt_window
        found = awaiting(session, message.room, message.sender_id, message.at - window)
        if found is None:
            return None
        number, posted_at = found
        if message.quoted is not None and find_ticket_reference(message.quoted) is not None:
            return None   # a 收到 quoting a notice about a ticket answers the ticket
        if not receipt_answers_circular(posted_at, newest_waiting_ticket(session, group.id)):
            by_head = bool(set(heads_here) & role_ids(group))
            return [Reply(texts.CIRCULAR_WHICH.format(number=number))] if by_head else []
    by_head = bool(set(heads_here) & role_ids(group))
    name = dispatcher.network.member_name(message.sender_id) or message.sender_name
    first = record_receipt(dispatcher.db, session, number, group.id, message.sender_id, name,
                           by_head, message.at, message.id)
    return [Reply(texts.CIRCULAR_RECEIVED.format(number=number))] if first else []


RECENT = 50  # circulars a paste is compared with, newest first


def is_pasted(session: Session, text: str, rest: str | None) -> bool:
    """Whether a member's message is a circular pasted: the bot's post (its header), or a
    circular's text, or the `通知 …` that sent one (`rest`: what follows the keyword), copied
    exactly or nearly (`flows.own_posts.nearly_same`)."""
    if is_circular_header(text):
        return True
    bodies = [text] + ([rest] if rest else [])
    # Runs of letters and digits: what copying leaves as it was (punctuation may turn full-width
    # or half-width on the way). The two longest of each, looked for in one statement.
    fragments = {run[:16] for body in bodies
                 for run in sorted(set(_RUN.findall(body)), key=len, reverse=True)[:2]}
    if not fragments:
        return False
    candidates = session.execute(
        select(CIRCULARS.c.text).where(or_(*(CIRCULARS.c.text.contains(fragment, autoescape=True)
                                             for fragment in sorted(fragments))))
        .order_by(CIRCULARS.c.id.desc()).limit(RECENT)).scalars().all()
    return any(nearly_same(body, one) for one in candidates for body in bodies)


_RUN = re.compile(r"[^\W_]{6,}")
