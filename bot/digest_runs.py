"""Sending digests on their schedules, and gathering one on demand (`gridbot digest`).

The text is `flows.digests`'; this module reads the figures from the database and writes the
posts. A digest goes once per node and firing of its schedule (a unique key on both); after a
downtime only the latest missed firing goes, covering the time since the node's last digest.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, func, select

from bot import circulars, rate_reports
from bot.outbox import PostPipeline, post_values, write_posts
from bot.transport import OutgoingPost
from flows.config import DigestSchedule, GridConfig, Node, cron_trigger
from flows.deadlines import DeadlineView
from flows.digests import DigestFigures, compose_digest
from flows.figures import Period
from flows.lifecycle import Reply, rating_in_note
from flows.network import Network
from flows.open_tickets import open_in, past_deadline
from models.db import Database, seconds_between
from models.subtrees import in_subtree, standing_at
from models.tables import DigestRun, Status, Ticket, TicketEvent

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=8)     # the furthest back a missed firing is looked for
# A schedule that never fired yet starts with the firings of the last few minutes, so a new
# install or a newly added schedule does not send a digest for a firing long past.
FIRST_WINDOW = timedelta(minutes=5)
DEFAULT_PERIOD = timedelta(days=1)
LISTED = 20                      # tickets listed per section; the rest are counted


@dataclass(frozen=True)
class NodeReport:
    figures: DigestFigures
    escalated: list[Ticket]     # the oldest LISTED active tickets escalated to the node itself
    overdue: list[Ticket]       # the LISTED longest past their deadline in its subtree
    escalated_count: int = 0    # how many there are of each
    overdue_count: int = 0


def gather_digest(session: Session, config: GridConfig, network: Network, node: Node,
                  start: datetime, end: datetime) -> list[str]:
    """The digest of `node`'s subtree for [start, end), as one chat message (masked above the
    micro-grid; the outbox splits it to the transport's limits)."""
    report = gather_report(session, network, node, start, end)
    policy = config.policy
    zone = ZoneInfo(policy.timezone)
    messages = compose_digest(node.name, start, end, zone,
                              report.figures, report.escalated, report.overdue,
                              masked=not network.is_microgrid(node), listed=LISTED,
                              escalated_count=report.escalated_count,
                              deadlines=DeadlineView(end, zone, policy.calendar(),
                                                     policy.timers_for))
    # The circulars the node sent (通知下发) whose groups have not all confirmed: those sent in
    # the period, or within the receipt window before its end.
    silent = circulars.digest_lines(session, network, node.id,
                                    min(start, end - policy.circulars.receipt_window), end, zone)
    if silent and messages:
        messages[-1] = "\n".join([messages[-1], *silent])
    return messages


def _period(column, start: datetime, end: datetime):
    return (column >= start) & (column < end)


def gather_report(session: Session, network: Network, node: Node, start: datetime,
                  end: datetime, listed: int = LISTED) -> NodeReport:
    """The figures of `node`'s subtree for [start, end) (aware datetimes, `gather_digest_figures`),
    and the first `listed` of its escalated and overdue tickets (oldest number first) with their
    counts.

    Everything is counted, summed and averaged by the database (one statement per figure, each
    scoped by `models.subtrees.in_subtree`); only listed tickets are loaded, so the city's
    digest costs about what a branch's does.
    """
    figures = gather_digest_figures(session, network, node, start, end)
    scope = in_subtree(network, node.id)
    period_scope = in_subtree(network, node.id, per_row=True)
    # The longest overdue listed walking the open tickets by deadline, testing the subtree on
    # each, so listing stops at `listed`.
    overdue = session.exec(select(Ticket).where(open_in(period_scope), past_deadline(end))
                           .order_by(Ticket.deadline_at, Ticket.id).limit(listed)).all()
    here = standing_at(network, node.id)
    escalated_count = session.exec(select(func.count()).select_from(Ticket).where(
        open_in(scope), here)).one()
    # Few of a subtree's open tickets stand at its top node: sorted from the subtree's own.
    escalated = session.exec(select(Ticket).where(open_in(scope), here)
                             .order_by(Ticket.created_at, Ticket.id).limit(listed)).all()
    return NodeReport(figures, list(escalated), list(overdue), escalated_count, figures.overdue)


def gather_digest_figures(session: Session, network: Network, node: Node, start: datetime,
                          end: datetime) -> DigestFigures:
    """The digest's figures of `node`'s subtree for [start, end) (aware datetimes): requests,
    claims and resolutions in the period with their average times, ratings, 延期 granted,
    departments late, the open tickets overdue at `end`, and the period's rates
    (`flows.figures`). What `/api/nodes/{id}/figures` answers; no ticket is loaded."""
    scope = in_subtree(network, node.id)
    # Counts over a period start from their own index and test the subtree per row.
    period_scope = in_subtree(network, node.id, per_row=True)
    # A report joined to the ticket of its problem (一事多报) is no new problem.
    new = session.exec(select(func.count()).select_from(Ticket).where(
        period_scope, _period(Ticket.created_at, start, end), Ticket.status != Status.MERGED)).one()
    claimed, claim_seconds = session.exec(
        select(func.count(), func.avg(seconds_between(Ticket.claimed_at, Ticket.created_at)))
        .where(period_scope, _period(Ticket.claimed_at, start, end))).one()
    resolved, resolve_seconds = session.exec(
        select(func.count(), func.avg(seconds_between(Ticket.resolved_at, Ticket.created_at)))
        .where(period_scope, _period(Ticket.resolved_at, start, end))).one()
    in_period = (select(TicketEvent.kind, TicketEvent.note, func.count())
                 .join(Ticket, Ticket.id == TicketEvent.ticket_id)  # type: ignore[arg-type]
                 .where(period_scope, TicketEvent.kind.in_(("extension_granted", "department_late",
                                                     "rated")),
                        _period(TicketEvent.at, start, end))
                 .group_by(TicketEvent.kind, TicketEvent.note))
    practice: Counter = Counter()
    ratings: Counter = Counter()
    for kind, note, count in session.exec(in_period).all():
        if kind == "rated":
            ratings[rating_in_note(note)] += count
        else:
            practice[kind] += count
    # Open and overdue by the one rule of flows/open_tickets.py, at the period's end. Counted
    # among the subtree's open tickets, not searched by deadline: PostgreSQL, taking a deadline
    # for a rare thing among all tickets, read every open one's row (a township 234 ms, 10 here).
    overdue_count = session.exec(select(func.count().filter(past_deadline(end))).select_from(Ticket)
                                 .where(open_in(scope))).one()
    # The rates of the period's requests, by the one definition of flows/figures.py.
    rates = rate_reports.gather_figures(session, network, node.id, Period(start, end, ""), end,
                                        percentiles=False).counts
    return DigestFigures(
        rates=rates, new=new, claimed=claimed, resolved=resolved, overdue=overdue_count,
        average_claim=_duration(claim_seconds), average_resolve=_duration(resolve_seconds),
        ratings=ratings, extensions=practice["extension_granted"],
        departments_late=practice["department_late"],
    )


def _duration(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=round(float(seconds)))


def schedule_key(schedule: DigestSchedule) -> str:
    return f"{schedule.level} {schedule.cron} {schedule.to}"


def latest_firings(cron: str, zone: ZoneInfo, since: datetime,
                   now: datetime) -> tuple[datetime | None, datetime | None]:
    """(the firing before the latest, the latest firing) in (since, now]; None when none."""
    trigger = cron_trigger(cron, zone)
    previous = latest = None
    fire = trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
    while fire is not None and fire <= now:
        previous, latest = latest, fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return previous, latest


def send_due_digests(config: GridConfig, db: Database, network: Network, now: datetime,
                     stopping: Callable[[], bool] = lambda: False) -> list[OutgoingPost]:
    """Write every digest whose schedule fired by `now` (aware) and was not sent yet, one node
    a transaction. Once `stopping()` is true it stops between two nodes; the next run finishes
    the round (a round cut short, by a stop or a crash, is taken up again: the latest firing
    recorded is looked at again, and the nodes that have its digest are skipped)."""
    zone = ZoneInfo(config.policy.timezone)
    posts: list[OutgoingPost] = []
    for schedule in config.policy.digests:
        key = schedule_key(schedule)
        with db.session() as session:
            last = session.exec(select(func.max(DigestRun.fire_at))
                                .where(DigestRun.schedule == key)).one()
        since = (max(last - timedelta(microseconds=1), now - LOOKBACK) if last
                 else now - FIRST_WINDOW)
        previous, fire = latest_firings(schedule.cron, zone, since, now)
        if fire is None:
            continue
        with db.session() as session:
            done = set(session.exec(select(DigestRun.node_id).where(
                DigestRun.schedule == key, DigestRun.fire_at == fire)).all())
        for node in network.nodes():
            if node.level != schedule.level or node.id in done:
                continue
            if stopping():
                return posts
            try:
                with db.session() as session:
                    posts += _send_one(session, config, network, node, schedule, key,
                                       previous, fire, now)
            except (IntegrityError, OperationalError) as error:
                log.info("digest for %s at %s sent by another bot (%s)", node.id, fire,
                         type(error).__name__)
    return posts


def _send_one(session: Session, config: GridConfig, network: Network, node: Node,
              schedule: DigestSchedule, key: str, previous: datetime | None, fire: datetime,
              now: datetime) -> list[OutgoingPost]:
    last_for_node = session.exec(select(func.max(DigestRun.fire_at)).where(
        DigestRun.schedule == key, DigestRun.node_id == node.id)).one()
    start = last_for_node or previous or fire - DEFAULT_PERIOD
    session.add(DigestRun(schedule=key, node_id=node.id, fire_at=fire, period_start=start,
                          sent_at=now))
    session.flush()  # the unique (schedule, node, firing) is checked before anything is written
    messages = gather_digest(session, config, network, node, start, fire)
    if schedule.to == "head":
        replies = [Reply(text, recipient=node.head.id) for text in messages]
    else:
        replies = [Reply(text, room=node.group.room) for text in messages]
    return write_posts(session, [post_values(reply, node.group.room, None, now)
                                 for reply in replies], PostPipeline.of(config, network))
