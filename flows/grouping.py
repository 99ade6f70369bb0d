"""Grouping the notices one escalation scan makes (design §7): the escalations (吹哨) and
reminders that fall due together into one group become one post there, with one @ per head,
instead of one post per ticket (25 tickets due at 07:00 after quiet hours: one post, split by
length if long).

Where many tickets wait in one group (at the top of the network, where they can climb no
higher), their reminders are grouped further (policy.reminders): a scan that finds
`group_after` or more of them due there posts one reminder for the interval, with the count
waiting and the oldest few (`reminder_summary`), and the group's reminders of the rest of that
interval are recorded for each ticket but not posted (`plan_reminders`). 83,000 tickets standing
at Liuyang's city group: one post every two hours, not ~150 reminder lines (5 posts) a minute.

Pure: notices in, posts out. A group that gets a single notice gets it as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flows import texts
from flows.config import Node
from flows.escalation import format_chinese_duration
from flows.lifecycle import Reply
from flows.masking import Personal, mask_text, shorten
from models.tables import Ticket

DESCRIPTION_CHARS = 40  # of a ticket's description in a grouped post, after masking
OLDEST_SHOWN = 5  # tickets a grouped reminder lists by name; the rest by 待办
# Reminder intervals are counted from a local midnight: 2 h ones start at 00:00, 02:00, …
_INTERVALS_FROM = datetime(2000, 1, 3)

ESCALATED, REMINDED = "escalated", "reminded"


@dataclass(frozen=True)
class Notice:
    """One ticket's notice of a scan: the post it would be alone (`reply`, with its room and
    mentions), its line in a grouped post, and its kind (ESCALATED or REMINDED)."""

    reply: Reply
    line: str
    kind: str = ESCALATED


def notice_line(ticket: Ticket, why: str, masked: bool) -> str:
    """A ticket's line in a grouped post: number, urgency, category, place, the description
    (masked first when `masked`, then cut to DESCRIPTION_CHARS characters) and `why`."""
    description = ticket.text
    if masked:
        description = mask_text(description, Personal((ticket.reporter_name,), (ticket.room,)))
    location = texts.location_text(ticket.building, ticket.unit, ticket.floor,
                                   None if masked else ticket.room)
    return texts.GROUPED_LINE.format(
        number=ticket.id, urgent=texts.URGENT_MARK if ticket.urgent else "",
        category=texts.CATEGORY_NAMES.get(ticket.category, ticket.category), location=location,
        description=shorten(description, DESCRIPTION_CHARS), why=why)


def group_by_room(notices: Sequence[Notice], summaries: Mapping[str | None, Reply] | None = None,
                  covered: Collection[str | None] = ()) -> list[Reply]:
    """One post per group, in the order the groups first appear: a single notice as it is;
    several as a header per kind (escalations first) and a line per ticket, mentioning each
    head once, in order.

    In a group of `summaries` (its grouped reminder, `reminder_summary`) or of `covered` (its
    grouped reminder of this interval went already) the reminders are left out; the summary
    closes the group's post (after the escalations that arrived there, if any)."""
    summaries = summaries or {}
    rooms: dict[str | None, list[Notice]] = {}
    for notice in notices:
        rooms.setdefault(notice.reply.room, []).append(notice)
    posts = []
    for room, here in rooms.items():
        summary = summaries.get(room)
        if summary is not None or room in covered:
            here = [notice for notice in here if notice.kind != REMINDED]
        if summary is None:
            if here:
                posts.append(here[0].reply if len(here) == 1 else _grouped(room, here))
            continue
        if here:
            escalations = _grouped(room, here)
            summary = Reply(f"{escalations.text}\n{summary.text}", room=room,
                            mentions=tuple(dict.fromkeys((*escalations.mentions, *summary.mentions))))
        posts.append(summary)
    return posts


def _grouped(room: str | None, here: Sequence[Notice]) -> Reply:
    lines: list[str] = []
    for kind, header in ((ESCALATED, texts.GROUPED_ESCALATED), (REMINDED, texts.GROUPED_REMINDED)):
        of_kind = [notice.line for notice in here if notice.kind == kind]
        if of_kind:
            lines += [header.format(count=len(of_kind)), *of_kind]
    mentions = tuple(dict.fromkeys(m for notice in here for m in notice.reply.mentions))
    return Reply("\n".join(lines), mentions=mentions, room=room)


# -- many tickets waiting in one group: one reminder per interval (policy.reminders) -------------

def reminders_by_room(notices: Sequence[Notice]) -> dict[str | None, int]:
    """How many reminders (REMINDED notices) each group gets from the notices of one scan."""
    return dict(Counter(notice.reply.room for notice in notices if notice.kind == REMINDED))


@dataclass(frozen=True)
class ReminderPlan:
    """What becomes of the reminders of one scan, group by group (rooms)."""

    summarise: frozenset[str | None]  # the group's grouped reminder goes now (and takes the interval)
    covered: frozenset[str | None]    # its grouped reminder of this interval went already: no post


def plan_reminders(counts: Mapping[str | None, int], taken: Collection[str | None],
                   group_after: int, grouped: Collection[str | None] = ()) -> ReminderPlan:
    """Which groups' reminders (`counts`: `reminders_by_room`) are grouped: in a group whose
    grouped reminder of this interval went already (`taken`) the reminders are covered by it;
    else a group with `group_after` or more due (or in `grouped`: known to have had that many,
    when a batch is done again ticket by ticket) gets its grouped reminder now. The others
    are reminded ticket by ticket as before (policy.reminders.group_after)."""
    covered = frozenset(room for room in counts if room in taken)
    summarise = frozenset(room for room, count in counts.items()
                          if room not in covered and (count >= group_after or room in grouped))
    return ReminderPlan(summarise, covered)


def reminder_interval(now: datetime, every: timedelta, zone: ZoneInfo) -> datetime:
    """The start (UTC) of the interval of length `every` that `now` (aware) falls in, intervals
    counted from a local midnight in `zone`: with 2 h, 10:37 local → 10:00; with 1 d, local
    midnight. One grouped reminder per group per interval."""
    origin = _INTERVALS_FROM.replace(tzinfo=zone)
    local = now.astimezone(zone)
    return (origin + (local - origin) // every * every).astimezone(timezone.utc)


@dataclass(frozen=True)
class Waiting:
    """The tickets standing in one group with a timer running (待接单 or 处理中): how many, how
    many of them urgent, and the oldest (at most OLDEST_SHOWN, oldest first)."""

    count: int
    urgent: int
    oldest: tuple[Ticket, ...]


def reminder_summary(top: Node, waiting: Waiting, now: datetime, masked: bool) -> Reply:
    """A group's grouped reminder: how many tickets wait there (and how many are urgent), the
    oldest of them with how long each is overdue (masked, as every line of a post above the
    micro-grid, when `masked`), how to see them all (待办), @ the head once."""
    # Named apart from the {urgent} of other phrases, which is the 【紧急】 mark.
    urgent_share = (texts.REMINDER_SUMMARY_URGENT.format(count=waiting.urgent)
                    if waiting.urgent else "")
    lines = [texts.REMINDER_SUMMARY.format(count=waiting.count, urgent_share=urgent_share,
                                           shown=len(waiting.oldest))]
    lines += [notice_line(ticket, overdue_text(ticket, now), masked) for ticket in waiting.oldest]
    lines.append(texts.REMINDER_SEE_ALL)
    return Reply("\n".join(lines), mentions=(top.head.id,), room=top.group.room)


def overdue_text(ticket: Ticket, now: datetime) -> str:
    """`超期3天2小时`: how long past the deadline of its running timer, to the hour (to the
    minute under an hour); a ticket whistled up before its deadline: `已等…` since its request."""
    if ticket.deadline_at is not None and ticket.deadline_at < now:
        return texts.REMINDER_OVERDUE.format(duration=_rounded(now - ticket.deadline_at))
    return texts.REMINDER_WAITING.format(duration=_rounded(now - ticket.created_at))


def _rounded(duration: timedelta) -> str:
    unit = timedelta(hours=1) if duration >= timedelta(hours=1) else timedelta(minutes=1)
    return format_chinese_duration(duration // unit * unit)
