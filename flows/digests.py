"""Digests for officials (design §7): what a node's head reads each morning or week.

Pure: the figures and ticket lists come in (gathered by `bot.digest_runs`), chat texts come out.
A digest for a node above the micro-grid level is masked by the one rule of `flows.masking`
(reporter → 王*, phone → 138****5678, no room numbers), each ticket's line masked before its
description is cut. Splitting to the chat service's limits is `flows.splitting`'s, as for every
post.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flows import texts
from flows.deadlines import DeadlineView
from flows.escalation import format_chinese_duration
from flows.figures import RateCounts, percent
from flows.masking import Personal, mask_name, mask_text, shorten
from flows.splitting import PostLimits, split_post
from models.tables import Ticket

DESCRIPTION_CHARS = 30


@dataclass(frozen=True)
class DigestFigures:
    """Counts for the period, over the node's whole subtree."""

    new: int = 0
    claimed: int = 0
    resolved: int = 0
    overdue: int = 0
    average_claim: timedelta | None = None    # created → claimed, over tickets claimed in the period
    average_resolve: timedelta | None = None  # created → resolved, over those resolved in it
    ratings: Mapping[str, int] = field(default_factory=dict)
    extensions: int = 0         # 延期 granted in the period
    departments_late: int = 0   # departments that did not report (报到) in time, in the period
    # The rates of the period's requests (flows/figures.py), shown when there were any.
    rates: RateCounts | None = None


def _average(duration: timedelta | None) -> str:
    return texts.NO_AVERAGE if duration is None else format_chinese_duration(duration)


def _ticket_line(ticket: Ticket, masked: bool, deadlines: DeadlineView | None = None) -> str:
    location = texts.location_text(ticket.building, ticket.unit, ticket.floor,
                                   None if masked else ticket.room)
    description = ticket.text
    if masked:  # before the cut: a phone number cut short is no longer recognisable
        description = mask_text(description, Personal((ticket.reporter_name,), (ticket.room,)))
    return texts.DIGEST_TICKET_LINE.format(
        number=ticket.id, urgent=texts.URGENT_MARK if ticket.urgent else "",
        category=texts.CATEGORY_NAMES.get(ticket.category, ticket.category),
        status=texts.STATUS_NAMES[ticket.status], location=location,
        description=shorten(description, DESCRIPTION_CHARS + 1),
        reporter=mask_name(ticket.reporter_name) if masked else ticket.reporter_name) + (
        texts.DIGEST_DEADLINE.format(deadline=shown)
        if deadlines is not None and (shown := deadlines.of(ticket)) else "")


def compose_digest(scope: str, start: datetime, end: datetime, zone: ZoneInfo,
                   figures: DigestFigures, escalated: Sequence[Ticket],
                   overdue: Sequence[Ticket], *, masked: bool, listed: int = 20,
                   limit: int | None = None, escalated_count: int | None = None,
                   deadlines: DeadlineView | None = None) -> list[str]:
    """The digest as chat messages: one text, which the outbox splits to the transport's limits
    as every post; with `limit` (characters), already split by the same splitter, each part
    after the first marked (续 n/m). Each list shows its first `listed` tickets of how many
    there are (`escalated_count`; `figures.overdue`), the given lists when not told. With
    `deadlines`, each ticket's line ends with its deadline in the calendar's terms
    (`限 12-03 周三 17:00 前，已超 3 工作小时`, flows/deadlines.py), read at `deadlines.now`."""

    def section(tickets: Sequence[Ticket], count: int) -> list[str]:
        if not tickets:
            return [texts.DIGEST_NONE]
        lines = [_ticket_line(t, masked, deadlines) for t in tickets[:listed]]
        if count > min(listed, len(tickets)):
            lines.append(texts.TODO_MORE.format(count=count - min(listed, len(tickets))))
        return lines

    escalated_count = len(escalated) if escalated_count is None else escalated_count
    overdue_count = max(figures.overdue, len(overdue))

    ratings = figures.ratings
    lines = [
        texts.DIGEST_HEADER.format(scope=scope, start=start.astimezone(zone).strftime(texts.TIME_FORMAT),
                                   end=end.astimezone(zone).strftime(texts.TIME_FORMAT)),
        texts.DIGEST_COUNTS.format(new=figures.new, claimed=figures.claimed,
                                   resolved=figures.resolved, overdue=figures.overdue,
                                   claim_time=_average(figures.average_claim),
                                   resolve_time=_average(figures.average_resolve)),
        texts.DIGEST_SATISFACTION.format(satisfied=ratings.get("满意", 0),
                                         fair=ratings.get("基本满意", 0),
                                         unsatisfied=ratings.get("不满意", 0)),
        *([texts.DIGEST_RATES.format(response=percent(figures.rates.response_rate),
                                     resolution=percent(figures.rates.resolution_rate),
                                     satisfaction=percent(figures.rates.satisfaction_rate))]
          if figures.rates is not None and figures.rates.requests else []),
        *([texts.DIGEST_PRACTICE.format(extensions=figures.extensions,
                                        late=figures.departments_late)]
          if figures.extensions or figures.departments_late else []),
        texts.DIGEST_ESCALATED.format(count=escalated_count),
        *section(escalated, escalated_count),
        texts.DIGEST_OVERDUE.format(count=overdue_count),
        *section(overdue, overdue_count),
    ]
    text = "\n".join(lines)
    if limit is None:
        return [text]
    return split_post(text, PostLimits(chars=limit, bytes=4 * limit))
