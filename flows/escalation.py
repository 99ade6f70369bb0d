"""Where a ticket escalates (吹哨): one level up the network at a time (design §7).

A ticket's escalation level counts the steps above its home node (0 = the node it was routed to,
normally a micro-grid; 1 = its parent, …). These helpers say which node a ticket stands at and
which comes next; the 吹哨 command and the scheduler's timers both move it with them.

The timers are pure functions too: `clock_after` says when a ticket falls due after each event,
`plan_escalation` what a scan does with a due ticket. The scan itself (database, posts) is
`bot.sweeps.escalate_due`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flows import texts
from flows.config import Node, Timers
from flows.network import Network
from flows.working_time import WorkingTime
from models.tables import Status, Ticket


def escalated_nodes(network: Network, ticket: Ticket) -> list[Node]:
    """The nodes above the home node the ticket has been escalated to, nearest first."""
    if ticket.escalation_level <= 0 or ticket.node_id not in network:
        return []
    return network.ancestors(ticket.node_id)[:ticket.escalation_level]


def current_node(network: Network, ticket: Ticket) -> Node:
    """The node whose group is answerable for the ticket now."""
    above = escalated_nodes(network, ticket)
    return above[-1] if above else network.node(ticket.node_id)


def next_node(network: Network, ticket: Ticket) -> Node | None:
    """The node one level above where the ticket stands; None at the top of the network."""
    return network.parent(current_node(network, ticket).id)


# -- the timers (design §7) ----------------------------------------------------------------------

ACTIVE_STATUSES = (Status.OPEN, Status.CLAIMED)


@dataclass(frozen=True)
class EscalationClock:
    """When a ticket's clock (re)started, when its running timer runs out (the deadline: past it
    the ticket is overdue), and when it next escalates. None: the clock is stopped."""

    started_at: datetime | None
    due_at: datetime | None
    deadline_at: datetime | None = None


def clock_after(kind: str, from_status: Status | None, to_status: Status | None,
                clock: EscalationClock, timers: Timers, now: datetime) -> EscalationClock:
    """The clock after one event. A new or returned ticket must be claimed within `claim_within`;
    once claimed it must be resolved within `resolve_within` of the clock's start; a reopened
    ticket gets a fresh `resolve_within`; resolving, closing or cancelling stops the clock; a
    ticket whistled up by hand gives its new level a whole `escalate_every`."""
    if to_status == Status.OPEN:
        return _timer(now, timers.deadline(now, "claim_within"))
    if to_status == Status.CLAIMED and from_status == Status.OPEN:
        started = clock.started_at or now
        return _timer(started, timers.deadline(started, "resolve_within"))
    if to_status == Status.CLAIMED and from_status in (Status.RESOLVED, Status.VERIFYING):
        return _timer(now, timers.deadline(now, "resolve_within"))
    if to_status is not None and to_status not in ACTIVE_STATUSES:
        return EscalationClock(clock.started_at, None, None)
    if kind == "escalated" and clock.due_at is not None:
        return EscalationClock(clock.started_at, now + timers.escalate_every, clock.deadline_at)
    return clock


def clock_time(sent_at: datetime, received_at: datetime, tolerance: timedelta) -> datetime:
    """The time a message's timers run on: the sender's claim `sent_at` when it is within
    `tolerance` of when the bot received it, else the time received (a phone set to 2036 or to
    2001 neither stops the timers nor sends the ticket straight to the top)."""
    return sent_at if abs(sent_at - received_at) <= tolerance else received_at


def _timer(started: datetime, deadline: datetime) -> EscalationClock:
    return EscalationClock(started, deadline, deadline)


@dataclass(frozen=True)
class EscalationPlan:
    """What one scan does to one due ticket."""

    levels: tuple[int, ...]     # the levels it climbs to now, one post each, in order
    renotify: bool              # already at the top: remind the top head again
    next_due_at: datetime       # when it is due again


def plan_escalation(level: int, top_level: int, due_at: datetime | None, every: timedelta,
                    now: datetime, *, quiet: bool = False) -> EscalationPlan | None:
    """Whether and how far a ticket escalates at `now`; None when it is not due (or must wait
    for the end of quiet hours).

    Each `every` past `due_at` is one more level, so a ticket that fell due while the bot was down
    climbs to where it should now stand, one post per level passed, in one scan. At the top it is
    re-notified once per scan that finds it due, never once per interval missed.
    """
    if due_at is None or now < due_at or quiet:
        return None
    steps = 1 + (now - due_at) // every
    climb = min(steps, max(top_level - level, 0))
    return EscalationPlan(levels=tuple(range(level + 1, level + 1 + climb)),
                          renotify=climb == 0, next_due_at=due_at + steps * every)


def overdue_reason(status: Status, timers: Timers) -> str:
    """Why the timer fired, for the escalation post: `超过10分钟未接单`."""
    if status == Status.OPEN:
        return texts.OVERDUE_UNCLAIMED.format(limit=format_chinese_duration(timers.claim_within))
    return texts.OVERDUE_UNRESOLVED.format(limit=format_chinese_duration(timers.resolve_within))


def format_chinese_duration(duration: timedelta | WorkingTime) -> str:
    """10 minutes → `10分钟`, 2 h → `2小时`, 5 days → `5天`, 1 h 30 min → `1小时30分钟`; working
    time as `3个工作日` / `4个工作小时`."""
    if isinstance(duration, WorkingTime):
        return str(duration)
    minutes = int(duration.total_seconds()) // 60
    parts = []
    for size, unit in ((1440, "天"), (60, "小时"), (1, "分钟")):
        if minutes >= size:
            parts.append(f"{minutes // size}{unit}")
            minutes %= size
    return "".join(parts) or "不到1分钟"
