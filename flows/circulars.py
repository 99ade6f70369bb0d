"""Circulars (通知下发): a head's notice relayed down into every group of their subtree, and the
receipts (`收到`) that say who saw it (design §4, `通知 <text>` / `紧急通知 <text>` /
`通知情况 #7`). "Notice" means two other things in this code (the notices about a ticket,
`flows.notice_routing`; the area-wide 公告, `flows.repeats`), hence "circular".

Pure: who receives a circular, when it may go (quiet hours), what counts as a receipt and which
circular a bare `收到` answers, who is silent, when the reminder is due. Times are aware
datetimes (UTC or any zone); quiet hours are read in the policy's local zone.

The rule for a bare `收到` (design §4 keeps a bare `收到` from ever claiming a ticket; `收到，接单`
claims, as before):

1. a reply quoting a circular (`【通知#7】…`) with `收到` in it is the receipt of that circular,
   whatever else waits in the group;
2. otherwise a bare `收到` answers the newest thing the bot put in the group for the member to
   acknowledge: the newest circular posted there within `policy.circulars.receipt_window` that
   the member has not acknowledged yet, unless a ticket waiting for its claim in that group was
   reported after it. Then the `收到` answers the ticket (and claims nothing); a head is told the
   circular still waits and how to confirm it (`texts.CIRCULAR_WHICH`), a resident nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flows import texts
from flows.normalize import reading

__all__ = ["CircularRequest", "DeliveryState", "elapsed_text", "in_quiet_hours",
           "is_circular_header", "is_receipt", "mentions_receipt", "quoted_circular",
           "read_circular", "receipt_answers_circular", "recipients", "reminder_due",
           "send_time", "silent"]


@dataclass(frozen=True)
class CircularRequest:
    """What follows `通知`: the text to relay, and the level it stops at (a level code of the
    config, or None for every level below the sender)."""

    text: str
    down_to: str | None = None


_SEPARATOR = r"[\s:：,，、。.!！;；\-—]"


def read_circular(rest: str, levels: Iterable[str]) -> CircularRequest:
    """`"支部 明天停水"` → `CircularRequest("明天停水", "branch")` when `branch` is a level of
    the config; `"明天停水"` → every level. A level word must be followed by a separator
    (`通知 支部 …`, `通知 支部：…`), so a text that starts with one as a word of a sentence
    (`社区卫生服务中心…`) is relayed whole. The words are `texts.LEVEL_WORDS` and each level's
    code. The text may be empty (the caller answers with the usage)."""
    stripped = rest.strip()
    known = list(levels)
    words = sorted(((word, level) for level in known
                    for word in (*texts.LEVEL_WORDS.get(level, ()), level)),
                   key=lambda pair: len(pair[0]), reverse=True)
    for word, level in words:
        match = re.match(rf"[(（【\[]?{re.escape(word)}[)）】\]]?{_SEPARATOR}+", stripped)
        if match is not None:
            return CircularRequest(stripped[match.end():].strip(), level)
    return CircularRequest(stripped)


def recipients(order: list[str], first: int, last: int, level_of: dict[str, int],
               down_to: int | None) -> list[str]:
    """The node ids a circular from the node at depth-first position `first` (its subtree ending
    at `last`, `Network.intervals`) goes to: every node below it, parents before children
    (`order`, `Network.order`), at a level no lower than `down_to` (a position in the config's
    `levels`, 0 the top; None: every level). The sender's own group is not among them: the
    circular was said there."""
    below = order[first + 1:last + 1]
    if down_to is None:
        return below
    return [node_id for node_id in below if level_of[node_id] <= down_to]


def send_time(now: datetime, urgent: bool, quiet_hours, zone: ZoneInfo,
              wanted: datetime | None = None) -> datetime:
    """When a circular goes: at `wanted` (a scheduled time, never before `now`) or now; a
    circular that is not urgent and would go within quiet hours (`policy.quiet_hours`, local
    time, `QuietHours.contain`) goes at their end instead. Urgent ones go at once (design §4:
    紧急通知 skip quiet hours)."""
    at = max(wanted or now, now)
    if urgent or quiet_hours is None:
        return at
    local = at.astimezone(zone)
    if not quiet_hours.contain(local.time().replace(tzinfo=None)):
        return at
    end = datetime.combine(local.date(), quiet_hours.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet_hours.end, tzinfo=zone)
    return end.astimezone(at.tzinfo)


def in_quiet_hours(now: datetime, quiet_hours, zone: ZoneInfo) -> bool:
    """Whether `now` lies within `policy.quiet_hours` (local time); False when there are none."""
    if quiet_hours is None:
        return False
    local: time = now.astimezone(zone).time().replace(tzinfo=None)
    return quiet_hours.contain(local)


# -- receipts ----------------------------------------------------------------------------------

_RECEIPT_BEFORE = ("好的", "好嘞", "好", "嗯嗯", "嗯", "ok", "已经", "已", "均已", "都已", "我已", "我",
                   "本群已", "本群", "明白", "了解", "知道了")
_RECEIPT_AFTER = ("通知", "了", "啦", "咯", "哈", "哦", "呀", "谢谢", "感谢", "明白", "了解", "马上落实",
                  "会落实", "落实", "转发", "已转发", "ok", "好的")
_RECEIPT_MAX = 20  # characters of the normalised text: a longer message is talk
_MARKS = re.compile(r"[\s:,、。.!?;~…\-—()\[\]【】「」\"'👌👍🙏✌️]+")
_LEADING_MENTIONS = re.compile(r"^(?:@\S{1,32}\s+)*")


def is_receipt(text: str) -> bool:
    """Whether a message is a bare `收到`: `收到`, `收到！`, `好的收到`, `已收到，谢谢`,
    `收到👌`, `收到通知`, in traditional or full-width forms too; not `收到，接单` (a claim,
    `flows.commands.recognize_in_sentence`), not a longer message that mentions 收到."""
    body = _LEADING_MENTIONS.sub("", reading(text).text.strip()).lower()
    if not body or len(body) > _RECEIPT_MAX or "收到" not in body:
        return False
    words = [word for word in _MARKS.split(body) if word]
    seen = False
    for word in words:
        rest = word
        for filler in sorted(_RECEIPT_BEFORE, key=len, reverse=True):
            if rest.startswith(filler) and rest[len(filler):].startswith("收到"):
                rest = rest[len(filler):]
                break
        if rest.startswith("收到"):
            seen = True
            rest = rest[2:]
        while rest:
            filler = next((f for f in sorted(_RECEIPT_AFTER, key=len, reverse=True)
                           if rest.startswith(f)), None)
            if filler is None:
                return False
            rest = rest[len(filler):]
    return seen


def mentions_receipt(text: str) -> bool:
    """A reply quoting a circular counts as its receipt when it says 收到 in a short message
    (`收到`, `收到，已转发各户`, even `收到，接单`: the quote settles what it answers)."""
    body = reading(text).text.strip()
    return "收到" in body and len(body) <= 2 * _RECEIPT_MAX


_HEADER = re.compile(r"【(?:紧急)?通知[#＃]\s*(?P<number>[0-9]{1,9})】")
_REMINDER_HEADER = re.compile(r"【通知提醒】\s*通知[#＃]\s*(?P<number>[0-9]{1,9})")


def quoted_circular(quoted: str | None) -> int | None:
    """The number of the circular a quoted post is (`【通知#7】…`, `【紧急通知#7】…`, or its
    reminder `【通知提醒】通知#7…`); None when the quote is something else."""
    if not quoted:
        return None
    for pattern in (_HEADER, _REMINDER_HEADER):
        match = pattern.search(quoted)
        if match is not None:
            return int(match.group("number"))
    return None


def is_circular_header(text: str) -> bool:
    """Whether a member's text starts as the bot's circular post or its reminder does (a
    paste of the post): `【通知#7】…`, `【紧急通知#7】…`, `【通知提醒】通知#7…`, after any
    @-mentions and a `网格小助手：` prefix."""
    body = reading(text).text
    body = re.sub(rf"^\s*(?:@\S{{1,32}}\s+)*(?:{re.escape(texts.BOT_NAME)}\s*[:：]\s*)?", "", body)
    return bool(_HEADER.match(body) or _REMINDER_HEADER.match(body))


def receipt_answers_circular(circular_posted_at: datetime,
                             ticket_waiting_since: datetime | None) -> bool:
    """Rule 2 of the module's docstring: a bare `收到` answers the circular posted at
    `circular_posted_at` unless a ticket waiting for its claim in the group was reported after
    it (`ticket_waiting_since`, the newest such ticket's creation; None when none waits)."""
    return ticket_waiting_since is None or ticket_waiting_since <= circular_posted_at


# -- who is silent, when to remind -----------------------------------------------------------

@dataclass(frozen=True)
class DeliveryState:
    """A circular in one group, as `通知情况` reads it: the group, its head, whether the head (or
    a deputy or stand-in) confirmed, how many residents did."""

    node_id: str
    group: str
    head: str
    head_confirmed: bool
    residents: int = 0


def silent(states: Iterable[DeliveryState]) -> list[DeliveryState]:
    """The groups whose head has not confirmed, in the order given."""
    return [state for state in states if not state.head_confirmed]


def reminder_due(sent_at: datetime | None, reminded_at: datetime | None,
                 remind_after: timedelta, now: datetime) -> bool:
    """Whether the reminder of a circular sent at `sent_at` is due at `now`: once
    (`reminded_at` None), `policy.circulars.remind_after` after it went."""
    return sent_at is not None and reminded_at is None and now >= sent_at + remind_after


def elapsed_text(span: timedelta) -> str:
    """`2h` → `2小时`, `90m` → `1小时30分钟`, `3d` → `3天`: how long a circular has been out."""
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "",
             f"{minutes}分钟" if minutes else ""]
    return "".join(parts) or "不到1分钟"
