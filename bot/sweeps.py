"""Work the scheduler does at a given time, with no message behind it: escalate tickets whose
timer ran out (吹哨, design §7) and close resolved tickets nobody rated within the rating window.

Each sweep reads only what is due (indexed columns), works in small transactions, and relies on
unique keys so that overlapping or repeated sweeps, in one process or several, post nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, insert, or_
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, func, select

from bot import departments
from bot.dispatch import ESCALATIONS, EVENTS, apply_outcome, escalation_row, event_row
from bot.outbox import PostPipeline, post_values, write_posts
from bot.repeat_reports import followers, households
from bot.transport import OutgoingPost
from flows import lifecycle, texts
from flows.config import GridConfig, Node, Policy
from flows.escalation import ACTIVE_STATUSES, current_node, overdue_reason, plan_escalation
from flows.grouping import (ESCALATED, OLDEST_SHOWN, REMINDED, Notice, Waiting, group_by_room,
                            notice_line, plan_reminders, reminder_interval, reminder_summary,
                            reminders_by_room)
from flows.lifecycle import Actor, EventRecord, Reply
from flows.masking import masked_for_post
from flows.network import Network
from flows.notice_routing import places_for
from flows.notice_routing import route as route_notices
from models.db import Database
from models.subtrees import in_subtree
from models.tables import DigestRun, Status, Ticket, TicketEscalation

log = logging.getLogger(__name__)

SYSTEM = Actor(id="gridbot", name=texts.BOT_NAME)
BATCH = 500  # tickets per transaction, so a long backlog never holds one huge lock
# A group's grouped reminder of one interval (policy.reminders) is a digest of what waits there:
# kept as a digest run of this schedule, (node, interval start) unique, so it goes once.
REMINDER_RUNS = "reminders"


def close_unrated(config: GridConfig, db: Database, now: datetime) -> list[OutgoingPost]:
    """Close every resolved ticket whose rating window ended by `now`; returns the posts written."""
    deadline = now - config.policy.rating_window
    pipeline = PostPipeline.of(config, Network(config))
    posts = []
    while True:
        with db.session() as session:
            due = session.exec(
                select(Ticket).where(Ticket.status == Status.RESOLVED, Ticket.resolved_at <= deadline)
                .order_by(Ticket.id).limit(BATCH).with_for_update(skip_locked=True)
            ).all()
            for ticket in due:
                outcome = lifecycle.close_unrated(ticket, now)
                apply_outcome(session, ticket, SYSTEM, outcome, now, None, config.policy)
                posts += write_posts(session, [post_values(reply, ticket.group_room, None, now)
                                               for reply in outcome.replies], pipeline)
        if len(due) < BATCH:
            return posts


def tell_departments_late(config: GridConfig, db: Database, network: Network,
                          now: datetime) -> list[OutgoingPost]:
    """Tell each head once that a department they called has not reported (报到) in time."""
    if not config.departments:
        return []
    pipeline = PostPipeline.of(config, network)
    with db.session() as session:
        posts = []
        for ticket, outcome, room in departments.tell_late(session, config, now):
            apply_outcome(session, ticket, SYSTEM, outcome, now, None, config.policy)
            posts += write_posts(session, [post_values(reply, room, None, now)
                                           for reply in outcome.replies], pipeline)
        return posts


def end_notices(config: GridConfig, db: Database, network: Network,
                now: datetime) -> list[OutgoingPost]:
    """Close every area-wide notice (公告) whose end time came by `now`; the head who posted it
    and every household that joined it are told. Returns the posts written."""
    pipeline = PostPipeline.of(config, network)
    posts = []
    while True:
        with db.session() as session:
            due = session.exec(
                select(Ticket).where(Ticket.status == Status.CLAIMED, Ticket.notice_until <= now)
                .order_by(Ticket.id).limit(BATCH).with_for_update(skip_locked=True)).all()
            for ticket in due:
                outcome = lifecycle.end_notice(ticket, now)
                apply_outcome(session, ticket, SYSTEM, outcome, now, None, config.policy)
                replies = route_notices(outcome.replies, places_for(
                    network, ticket, None, None, followers(session, ticket)))
                posts += write_posts(session, [post_values(reply, ticket.group_room, None, now)
                                               for reply in replies], pipeline)
        if len(due) < BATCH:
            return posts


@dataclass
class _Staged:
    """Rows an escalation scan writes, gathered to be inserted together (no ORM object each),
    and its notices, grouped into one post per group when written."""

    pipeline: PostPipeline
    now: datetime
    policy: Policy
    # Groups known to have had policy.reminders.group_after reminders due in this batch, when
    # the batch is done again ticket by ticket (flows.grouping.plan_reminders).
    grouped: frozenset[str | None] = frozenset()
    escalations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def write(self, session: Session) -> list[OutgoingPost]:
        """Insert the rows after the tickets' own changes; the unique escalation keys (and a
        grouped reminder's interval) are checked here, before any post exists. Returns the
        posts, numbered."""
        session.flush()
        if self.escalations:
            session.execute(insert(ESCALATIONS), self.escalations)
        if self.events:
            session.execute(insert(EVENTS), self.events)
        summaries, covered = self._group_reminders(session)
        return write_posts(session, [post_values(reply, reply.room, None, self.now)
                                     for reply in group_by_room(self.notices, summaries, covered)],
                           self.pipeline)

    def crowded(self) -> frozenset[str | None]:
        """The groups with policy.reminders.group_after reminders or more in this batch."""
        return plan_reminders(reminders_by_room(self.notices), (),
                              self.policy.reminders.group_after, self.grouped).summarise

    def _group_reminders(self, session: Session) -> tuple[dict[str | None, Reply], frozenset]:
        """The grouped reminders this batch posts (by room), and the groups whose reminders
        the grouped reminder of this interval covers already (flows.grouping.plan_reminders).
        Each grouped reminder takes its (node, interval) digest run first: a second scan
        overlapping this one fails there and does its batch again ticket by ticket."""
        counts = reminders_by_room(self.notices)
        if not counts:
            return {}, frozenset()
        network, policy = self.pipeline.network, self.policy
        tops = {room: node for room in counts
                if room is not None and (node := network.node_for_room(room)) is not None}
        interval = reminder_interval(self.now, policy.reminder_every(), ZoneInfo(policy.timezone))
        taken = set(session.exec(select(DigestRun.node_id).where(
            DigestRun.schedule == REMINDER_RUNS, DigestRun.fire_at == interval,
            DigestRun.node_id.in_([node.id for node in tops.values()]))).all())  # type: ignore[attr-defined]
        plan = plan_reminders({room: count for room, count in counts.items() if room in tops},
                              {room for room, node in tops.items() if node.id in taken},
                              policy.reminders.group_after, self.grouped)
        summaries = {}
        for room in plan.summarise:
            top = tops[room]
            session.add(DigestRun(schedule=REMINDER_RUNS, node_id=top.id, fire_at=interval,
                                  period_start=interval, sent_at=self.now))
            session.flush()
            summaries[room] = reminder_summary(top, waiting_at(session, network, top), self.now,
                                               masked_for_post(network, room, None))
        return summaries, plan.covered


def waiting_at(session: Session, network: Network, node: Node) -> Waiting:
    """The tickets standing at `node` (flows.escalation.current_node) with a timer running.

    Counted by (home node, level) in the database (every escalated ticket counts: at the top
    that is most of them), each pair placed once; the oldest read in order of creation, through
    its index, until OLDEST_SHOWN of them stand here. Once per group per reminder interval.
    """
    # Only the node's subtree can stand at it (one range: models/subtrees.py).
    waiting = and_(Ticket.status.in_(ACTIVE_STATUSES), in_subtree(network, node.id),  # type: ignore[attr-defined]
                   or_(Ticket.escalation_level > 0, Ticket.node_id == node.id))
    count = urgent = 0
    here: set[tuple[str, int]] = set()
    for row in session.execute(
            select(Ticket.node_id, Ticket.escalation_level, func.count(),
                   func.sum(case((Ticket.urgent, 1), else_=0))).where(waiting)  # type: ignore[arg-type]
            .group_by(Ticket.node_id, Ticket.escalation_level)):
        # A row has the two columns current_node reads (node_id, escalation_level).
        if row.node_id in network and current_node(network, row) == node:
            here.add((row.node_id, row.escalation_level))
            count, urgent = count + row[2], urgent + int(row[3] or 0)
    oldest: list[int] = []
    if here:
        rows = session.execute(select(Ticket.id, Ticket.node_id, Ticket.escalation_level)
                               .where(waiting).order_by(Ticket.created_at, Ticket.id)
                               .execution_options(yield_per=100))
        for row in rows:
            if (row.node_id, row.escalation_level) in here:
                oldest.append(row.id)
                if len(oldest) == OLDEST_SHOWN:
                    break
        rows.close()
    loaded = {ticket.id: ticket for ticket in session.exec(
        select(Ticket).where(Ticket.id.in_(oldest)))}  # type: ignore[union-attr]
    return Waiting(count=count, urgent=urgent, oldest=tuple(loaded[number] for number in oldest))


def due_tickets(now: datetime, *, urgent_only: bool = False):
    """SQL: (id, home node) of every ticket due by `now`.

    Searched through the escalation_due_at index, so a scan reads the due tickets only, however
    many others are open. No status test: it would lead SQLite to the status index, i.e. to
    every open ticket; a stopped clock has no due time anyway, and `_escalate` checks the status.
    """
    query = select(Ticket.id, Ticket.node_id).where(Ticket.escalation_due_at <= now)
    if urgent_only:
        query = query.where(Ticket.urgent.is_(True))  # type: ignore[attr-defined]
    return query


def in_batches(network: Network, due: Sequence[tuple[int, str]]) -> list[list[int]]:
    """The ids of the due tickets (id, home node) in batches of `BATCH`, the tickets of one
    subtree side by side (by their home's depth-first position, then id; a home gone from the
    network last): a group's escalations fall in one batch, and the escalations into one
    group in one batch are one post (`_Staged`). In due-time order, a catch-up of 50,000
    spread each branch's 45 over as many batches, and as many posts."""
    intervals = network.intervals
    unknown = (len(intervals), "")

    def place(row: tuple[int, str]):
        return intervals.get(row[1], unknown)[0], row[0]

    ids = [number for number, _ in sorted(due, key=place)]
    return [ids[index:index + BATCH] for index in range(0, len(ids), BATCH)]


def escalate_due(config: GridConfig, db: Database, network: Network, now: datetime,
                 stopping: Callable[[], bool] = lambda: False) -> list[OutgoingPost]:
    """Escalate every ticket whose escalation clock ran out by `now`; returns the posts written.

    The due tickets are read once, then escalated in batches (`in_batches`), one transaction
    each (rows locked, skipping those another scan holds); a ticket another scan escalated
    meanwhile is no longer due and is left. When the unique escalation key says another scan
    got to a ticket of the batch first, the batch is rolled back and done again ticket by
    ticket, so only that ticket is skipped. Once `stopping()` is true (the process stops) no
    further batch begins: the rest stays due. What falls due during the scan waits for the next.
    """
    pipeline = PostPipeline.of(config, network)
    quiet_hours = config.policy.quiet_hours
    quiet = quiet_hours is not None and quiet_hours.contain(
        now.astimezone(ZoneInfo(config.policy.timezone)).time().replace(tzinfo=None))
    with db.session() as session:
        due = [tuple(row) for row in session.execute(due_tickets(now, urgent_only=quiet)).all()]
    posts: list[OutgoingPost] = []
    for batch in in_batches(network, due):
        query = select(Ticket).where(Ticket.id.in_(batch),  # type: ignore[attr-defined]
                                     Ticket.escalation_due_at <= now).order_by(Ticket.id)
        crowded: frozenset[str | None] = frozenset()
        try:
            with db.session() as session:
                tickets = {ticket.id: ticket for ticket in
                           session.exec(query.with_for_update(skip_locked=True)).all()}
                staged = _Staged(pipeline, now, config.policy)
                for number in batch:   # the batch's order: a subtree's tickets together
                    if number in tickets:
                        _escalate(session, config, network, tickets[number], now, staged)
                crowded = staged.crowded()
                posts += staged.write(session)
        except (IntegrityError, OperationalError) as error:
            log.info("a scan overlapped this one (%s); escalating ticket by ticket",
                     type(error).__name__)
            # Ticket by ticket, a crowded group's reminders stay grouped: the first takes the
            # interval's grouped reminder, it covers the rest.
            posts += [post for ticket_id in batch for post in _escalate_alone(
                db, config, network, pipeline, ticket_id, now, crowded)]
        if stopping():
            return posts
    return posts


def _escalate_alone(db: Database, config: GridConfig, network: Network, pipeline: PostPipeline,
                    ticket_id: int, now: datetime,
                    crowded: frozenset[str | None] = frozenset()) -> list[OutgoingPost]:
    try:
        with db.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.id == ticket_id)
                                  .with_for_update(skip_locked=True)).first()
            if ticket is None:
                return []
            staged = _Staged(pipeline, now, config.policy, crowded)
            _escalate(session, config, network, ticket, now, staged)
            return staged.write(session)
    except (IntegrityError, OperationalError) as error:
        log.info("ticket #%s escalated by another scan (%s)", ticket_id, type(error).__name__)
        return []


def _escalate(session: Session, config: GridConfig, network: Network, ticket: Ticket,
              now: datetime, staged: _Staged) -> None:
    """Move one due ticket up as its plan says, staging the rows that records."""
    if ticket.status not in ACTIVE_STATUSES or ticket.node_id not in network:
        return
    timers = config.policy.timers_for(ticket.category, ticket.urgent)
    chain = [network.node(ticket.node_id), *network.ancestors(ticket.node_id)]
    level = min(ticket.escalation_level, len(chain) - 1)
    plan = plan_escalation(level, len(chain) - 1, ticket.escalation_due_at,
                           timers.escalate_every, now)
    if plan is None:
        return
    last_round = 0
    if plan.renotify:
        last_round = session.exec(select(func.max(TicketEscalation.round)).where(
            TicketEscalation.ticket_id == ticket.id, TicketEscalation.level == level)).one() or 0
        # On SQLite each read sees the newest commit (no row lock): a scan that reminded this
        # ticket since it was read shows in the round just read, and in its due time read now.
        # Then it is done; else this scan's reminder would be the next round, not a duplicate.
        due_now = session.exec(select(Ticket.escalation_due_at).where(
            Ticket.id == ticket.id)).one()
        if due_now != ticket.escalation_due_at:
            return
    cause = "claim" if ticket.status == Status.OPEN else "resolve"
    reason = overdue_reason(ticket.status, timers)
    if (waiting := households(session, ticket)) > 1:   # 一事多报: how many wait on it
        reason = texts.WITH_HOUSEHOLDS.format(reason=reason, households=waiting)
    notices: list[Notice] = []
    for new_level in plan.levels:
        origin, to = chain[new_level - 1], chain[new_level]
        staged.escalations.append(escalation_row(ticket.id, new_level, 0, cause, now))
        staged.events.append(event_row(ticket.id, SYSTEM, EventRecord(
            "escalated", note=f"{origin.name} → {to.name}：{reason}"), now, None))
        notices.append(Notice(lifecycle.escalation_notice(ticket, origin, to, reason),
                              notice_line(ticket, texts.GROUPED_FROM.format(
                                  origin=origin.name, reason=reason),
                                  masked_for_post(network, to.group.room, None)), ESCALATED))
    if plan.renotify:
        top = chain[-1]
        staged.escalations.append(escalation_row(ticket.id, level, last_round + 1, cause, now))
        staged.events.append(event_row(ticket.id, SYSTEM, EventRecord(
            "reminded", note=f"{top.name}：{reason}"), now, None))
        notices.append(Notice(lifecycle.reminder(ticket, top, reason),
                              notice_line(ticket, reason,
                                          masked_for_post(network, top.group.room, None)),
                              REMINDED))
    ticket.escalation_level = plan.levels[-1] if plan.levels else level
    ticket.escalation_due_at = plan.next_due_at
    staged.notices += notices

