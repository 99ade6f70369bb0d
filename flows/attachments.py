"""Which ticket a photo, voice note, video, file or location joins (附件), and how attachments
are named in chat. Pure: the sender's recent acts and the time are passed in (issue 26).

The rules: media carried by a command's own message (`下单 …`, `补充 #3`, `办结 #3` with a photo,
as a webhook bridge may send them) join the ticket that command acted on. A media message of its
own joins the ticket of the sender's latest act that is still within its window:
- their `下单` or `补充` within `media.attach_within`: a photo, voice note, video or location
  joins the request (a file does not: it is kept, unattached);
- their `办结` within `media.evidence_within`: a photo or video is the evidence of the resolution
  (an event, `flows.lifecycle.add_evidence`).
Anything else is kept unattached, and nothing is said about it in the group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flows import texts

REQUEST = "request"      # joined a request (下单)
DETAIL = "detail"        # joined a 补充
EVIDENCE = "evidence"    # the evidence of a resolution (办结)

# The ticket events that open a window for the sender's media, and what such media are for.
PURPOSE_OF_EVENT = {"created": REQUEST, "detail": DETAIL, "resolved": EVIDENCE}
# The kinds each purpose takes from a media message of its own.
KINDS_FOR = {REQUEST: frozenset({"image", "voice", "video", "location"}),
             DETAIL: frozenset({"image", "voice", "video", "location"}),
             EVIDENCE: frozenset({"image", "video"})}


@dataclass(frozen=True)
class RecentAct:
    """One of the sender's own ticket events: `kind` a ticket_event kind (`created`, `detail`,
    `resolved`), `at` aware."""

    kind: str
    ticket_id: int
    at: datetime


@dataclass(frozen=True)
class Placement:
    """Where one medium goes: a ticket and why (`REQUEST`, `DETAIL`, `EVIDENCE`), or nowhere
    (ticket_id None: kept unattached)."""

    ticket_id: int | None = None
    purpose: str | None = None


NOWHERE = Placement()


def place_in_message(kind: str, acts: Sequence[RecentAct]) -> Placement:
    """A medium carried by a command's own message: the ticket of the first event that message
    recorded among `acts` (created, detail, resolved), whatever the kind; NOWHERE when it
    recorded none."""
    for act in acts:
        if act.kind in PURPOSE_OF_EVENT:
            return Placement(act.ticket_id, PURPOSE_OF_EVENT[act.kind])
    return NOWHERE


def place_after(kind: str, recent: Iterable[RecentAct], now: datetime,
                attach_within: timedelta, evidence_within: timedelta) -> Placement:
    """A medium sent on its own at `now` (aware) by a member whose own recent ticket events
    are `recent`: the ticket of the latest of them whose window (`attach_within` after 下单 and
    补充, `evidence_within` after 办结) still runs at `now` and takes this kind; NOWHERE else.
    Only the latest act counts: a photo after 办结 is never taken for an earlier 下单's."""
    acts = sorted((act for act in recent if act.kind in PURPOSE_OF_EVENT and act.at <= now),
                  key=lambda act: act.at, reverse=True)
    if not acts:
        return NOWHERE
    latest = acts[0]
    purpose = PURPOSE_OF_EVENT[latest.kind]
    window = evidence_within if purpose == EVIDENCE else attach_within
    if now - latest.at > window or kind not in KINDS_FOR[purpose]:
        return NOWHERE
    return Placement(latest.ticket_id, purpose)


def counted(kinds: Iterable[str]) -> str:
    """Media kinds as counted in chat, in a fixed order: `照片2 语音1`; '' for none."""
    counts = Counter(kinds)
    return " ".join(f"{name}{counts[kind]}" for kind, name in texts.MEDIA_KIND_NAMES.items()
                    if counts[kind])


def size_text(size: int) -> str:
    """A size in bytes as people read it: `850KB`, `1.2MB` (1,000-based, as phones show)."""
    if size < 1_000_000:
        return f"{max(1, round(size / 1000))}KB"
    return f"{size / 1_000_000:.1f}MB".replace(".0MB", "MB")


def attachment_line(kinds_and_sizes: Sequence[tuple[str, int | None]]) -> str | None:
    """The `查询` line of a ticket's attachments, `附件：照片2 语音1（共1.2MB）`; None for none."""
    if not kinds_and_sizes:
        return None
    total = sum(size or 0 for _, size in kinds_and_sizes)
    return texts.QUERY_ATTACHMENTS.format(
        counts=counted(kind for kind, _ in kinds_and_sizes),
        total=texts.QUERY_ATTACHMENTS_TOTAL.format(size=size_text(total)) if total else "")
