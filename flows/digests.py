"""Digests for officials (design §7): what a node's head reads each morning or week.

Pure: the figures and ticket lists come in (gathered by `bot.digest_runs`), chat texts come out.
A digest for a node above the micro-grid level masks personal data: the reporter's name keeps
only its family name (王*), phone numbers keep their first three and last four digits, and room
numbers are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flows import texts
from flows.escalation import ACTIVE_STATUSES, format_chinese_duration
from models.tables import Ticket

MESSAGE_LIMIT = 1500          # characters per chat message; a longer digest is split
DESCRIPTION_CHARS = 30

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[\s-]?(\d{3,4})(\d{4})(?!\d)")


def mask_name(name: str) -> str:
    """`王小明` → `王*`; a name of one character is masked whole."""
    name = name.strip()
    return name[0] + "*" if len(name) > 1 else "*"


def mask_phones(text: str) -> str:
    """Mobile `13812345678` → `138****5678`; landline `0731-83456789` → `0731****6789`."""
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def drop_room(text: str, room: str | None) -> str:
    """The description without the ticket's room number (`2-1-302` → `2-1-***`)."""
    if not room:
        return text
    return re.sub(rf"(?<!\d){re.escape(room)}(?!\d)(?:\s*(?:室|房间|房))?", "***", text)


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Past the deadline of its running timer (claim or resolve) and not resolved."""
    return (ticket.status in ACTIVE_STATUSES and ticket.deadline_at is not None
            and now > ticket.deadline_at)


@dataclass(frozen=True)
class DigestFigures:
    """Counts for the period, over the node's whole subtree."""

    new: int = 0
    claimed: int = 0
    resolved: int = 0
    overdue: int = 0
    claim_times: Sequence[timedelta] = ()     # created → claimed, for tickets claimed in the period
    resolve_times: Sequence[timedelta] = ()   # created → resolved, for those resolved in it
    ratings: Mapping[str, int] = field(default_factory=dict)


def _average(durations: Sequence[timedelta]) -> str:
    if not durations:
        return texts.NO_AVERAGE
    return format_chinese_duration(sum(durations, timedelta()) / len(durations))


def _ticket_line(ticket: Ticket, masked: bool) -> str:
    location = texts.location_text(ticket.building, ticket.unit, ticket.floor,
                                   None if masked else ticket.room)
    description = ticket.text if len(ticket.text) <= DESCRIPTION_CHARS \
        else ticket.text[:DESCRIPTION_CHARS] + "…"
    if masked:
        description = mask_phones(drop_room(description, ticket.room))
    return texts.DIGEST_TICKET_LINE.format(
        number=ticket.id, urgent=texts.URGENT_MARK if ticket.urgent else "",
        category=texts.CATEGORY_NAMES.get(ticket.category, ticket.category),
        status=texts.STATUS_NAMES[ticket.status], location=location, description=description,
        reporter=mask_name(ticket.reporter_name) if masked else ticket.reporter_name)


def compose_digest(scope: str, start: datetime, end: datetime, zone: ZoneInfo,
                   figures: DigestFigures, escalated: Sequence[Ticket],
                   overdue: Sequence[Ticket], *, masked: bool, listed: int = 20,
                   limit: int = MESSAGE_LIMIT) -> list[str]:
    """The digest as chat messages: one when it fits in `limit` characters, else several, each
    marked (续 n/m) and cut between lines. Each list shows its first `listed` tickets."""

    def section(tickets: Sequence[Ticket]) -> list[str]:
        if not tickets:
            return [texts.DIGEST_NONE]
        lines = [_ticket_line(t, masked) for t in tickets[:listed]]
        if len(tickets) > listed:
            lines.append(texts.TODO_MORE.format(count=len(tickets) - listed))
        return lines

    ratings = figures.ratings
    lines = [
        texts.DIGEST_HEADER.format(scope=scope, start=start.astimezone(zone).strftime(texts.TIME_FORMAT),
                                   end=end.astimezone(zone).strftime(texts.TIME_FORMAT)),
        texts.DIGEST_COUNTS.format(new=figures.new, claimed=figures.claimed,
                                   resolved=figures.resolved, overdue=figures.overdue,
                                   claim_time=_average(figures.claim_times),
                                   resolve_time=_average(figures.resolve_times)),
        texts.DIGEST_SATISFACTION.format(satisfied=ratings.get("满意", 0),
                                         fair=ratings.get("基本满意", 0),
                                         unsatisfied=ratings.get("不满意", 0)),
        texts.DIGEST_ESCALATED.format(count=len(escalated)),
        *section(escalated),
        texts.DIGEST_OVERDUE.format(count=len(overdue)),
        *section(overdue),
    ]
    return split_message(lines, limit)


def split_message(lines: Sequence[str], limit: int) -> list[str]:
    """Lines joined into as few messages of at most `limit` characters as they fit in; a part
    after the first starts with (续 n/m)."""
    marker_room = len(texts.DIGEST_CONTINUED.format(part=99, parts=99)) + 1
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        line = line if len(line) <= limit - marker_room else line[:limit - marker_room - 1] + "…"
        if parts[-1] and size + 1 + len(line) > limit - marker_room:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + (1 if size else 0)
    if len(parts) == 1:
        return ["\n".join(parts[0])]
    return ["\n".join(([texts.DIGEST_CONTINUED.format(part=n, parts=len(parts))] if n > 1 else [])
                      + part) for n, part in enumerate(parts, start=1)]
