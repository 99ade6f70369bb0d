"""Grouping the notices one escalation scan makes (design §7): the escalations (吹哨) and
reminders that fall due together into one group become one post there, with one @ per head,
instead of one post per ticket (25 tickets due at 07:00 after quiet hours: one post, split by
length if long).

Pure: notices in, posts out. A group that gets a single notice gets it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flows import texts
from flows.lifecycle import Reply
from flows.masking import Personal, mask_text, shorten
from models.tables import Ticket

DESCRIPTION_CHARS = 40  # of a ticket's description in a grouped post, after masking

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


def group_by_room(notices: Sequence[Notice]) -> list[Reply]:
    """One post per group, in the order the groups first appear: a single notice as it is;
    several as a header per kind (escalations first) and a line per ticket, mentioning each
    head once, in order."""
    rooms: dict[str | None, list[Notice]] = {}
    for notice in notices:
        rooms.setdefault(notice.reply.room, []).append(notice)
    posts = []
    for room, here in rooms.items():
        if len(here) == 1:
            posts.append(here[0].reply)
            continue
        lines: list[str] = []
        for kind, header in ((ESCALATED, texts.GROUPED_ESCALATED),
                             (REMINDED, texts.GROUPED_REMINDED)):
            of_kind = [notice.line for notice in here if notice.kind == kind]
            if of_kind:
                lines += [header.format(count=len(of_kind)), *of_kind]
        mentions = tuple(dict.fromkeys(m for notice in here for m in notice.reply.mentions))
        posts.append(Reply("\n".join(lines), mentions=mentions, room=room))
    return posts
