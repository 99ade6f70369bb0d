"""Masking personal data for everything that leaves the micro-grid (design §7).

A micro-grid group (微网格联户群) is the reporter's neighbourhood: its head and members see a
request as it was written. Every group above it (branch, village, township: 吹哨, 督办, 查询 and
待办 answers there), a digest for such a level, and the API and dashboard for an official above the
micro-grid see the same text masked by the one rule of this module:

- the reporter's name keeps its family name only: `王小明` → `王*`;
- phone numbers keep their first three and last four digits: `13812345678` → `138****5678`, also
  written with spaces or dashes (`138 1234 5678`, `+86-138-1234-5678`), landlines
  (`0731-83456789` → `0731****6789`), and digits spoken one by one (`一三八…`);
- room numbers are dropped: `502室` → `***`, the room part of `2-1-302` → `2-1-***`, a door number
  after a building or unit (`2栋1单元502厨房` → `2栋1单元***厨房`), and the ticket's own room wherever
  it stands.

Pure: text in, text out. Masking is idempotent (a masked text masked again is unchanged), and
must happen before a text is cut: a cut phone number (`136627667…`) is no longer recognisable,
which is why `shorten` never cuts inside a run of digits either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from flows import texts
from flows.network import Network

ROOM_MASK = "***"
ELLIPSIS = "…"

# Separators people put inside a phone number: spaces (also the full-width one), dashes.
_SEP = r"[ \u3000\-－—‐.]?"
# A mobile number: 1[3-9]x xxxx xxxx, optionally after +86 / 86 / 0086.
_MOBILE = re.compile(
    rf"(?<![\d*#＃])(?:(?:\+|＋|00)?86{_SEP})?(1[3-9]\d){_SEP}(\d){_SEP}(\d){_SEP}(\d){_SEP}(\d)"
    rf"{_SEP}(\d){_SEP}(\d){_SEP}(\d){_SEP}(\d)(?![\d*])")
# A landline with its area code: 0731-83456789, 0731 8345 6789, (0731)83456789, 010-1234567.
_LANDLINE = re.compile(
    rf"(?<![\d*#＃])[(（]?(0\d{{2,3}})[)）]?{_SEP}(\d{{3,4}}){_SEP}(\d{{4}})(?![\d*])")
# Any other long run of digits (7 or more, one space or dash allowed between groups): a local
# number without its area code, a number cut short, an id. Starred but for its last four
# digits; a date (2026-11-24) and a ticket number (`#10000000`) are left alone.
_LONG_RUN = re.compile(r"(?<![\d*#＃])\d+(?:[ \-－]\d+)*(?![\d*])")
_DATE = re.compile(r"\d{4}[\-－]\d{1,2}[\-－]\d{1,2}")
# Digits spoken one by one: 一三八一二三四五六七八 (seven or more).
_SPOKEN = re.compile(r"[零〇一二三四五六七八九幺]{7,}")

# The room of a compact place, building-unit-room: 2-1-302 → 2-1-***.
_COMPACT_ROOM = re.compile(r"(?<![\d*])(\d{1,3}\s*[-－]\s*\d{1,2}\s*[-－]\s*)\d{3,4}(?![\d*])")
# A 3-4 digit number named a room: 502室, 1102号房, 302房间, 402户.
_NAMED_ROOM = re.compile(r"(?<![\d*#＃])\d{3,4}\s*(?:室|号房|房间|房|户)")
# A 3-4 digit number right after a building, unit or floor: 2栋1单元502厨房, 4楼402, 3号楼1102.
_DOOR_AFTER_PLACE = re.compile(
    r"((?:栋|幢|座|单元|号楼|楼|层)\s*)\d{3,4}(?![\d*]|[ \-－\u3000]\d"
    r"|\s*(?:元|块|米|平|斤|个|人|天|年|次|分|点|号楼|栋|幢|楼|层|单元|%))")


@dataclass(frozen=True)
class Personal:
    """What a text may hold of the people behind it: reporters' names and the rooms of their
    tickets. Both are masked wherever they stand, besides what the patterns find."""

    names: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()

    def __add__(self, other: Personal) -> Personal:
        return Personal(tuple(dict.fromkeys(self.names + other.names)),
                        tuple(dict.fromkeys(self.rooms + other.rooms)))


def mask_name(name: str) -> str:
    """`王小明` → `王*`; a name of one character is masked whole. An already masked name is
    returned as it is."""
    name = name.strip()
    if name.endswith("*") and len(name) <= 2:
        return name
    return name[0] + "*" if len(name) > 1 else "*"


def _keep_ends(digits: str, head: int = 3, tail: int = 4) -> str:
    return digits[:head] + "****" + digits[-tail:]


def mask_phones(text: str) -> str:
    """Phone numbers of `text` masked: mobile `13812345678` → `138****5678` (spaces, dashes and
    +86 allowed), landline `0731-83456789` → `0731****6789`, any other run of seven or more
    digits starred but for its last four, digits spoken one by one starred whole."""
    if not any(ch.isdigit() for ch in text) and not _SPOKEN.search(text):
        return text
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{''.join(m.group(i) for i in range(6, 10))}",
                       text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LONG_RUN.sub(_star_long_run, text)
    return _SPOKEN.sub(lambda m: "*" * len(m.group(0)), text)


def _star_long_run(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = re.sub(r"\D", "", run)
    if len(digits) < 7 or _DATE.fullmatch(run):
        return run
    return "****" + digits[-4:]


def drop_rooms(text: str, rooms: Iterable[str] = ()) -> str:
    """`text` without room numbers: each of `rooms` (a ticket's own, as parsed) wherever it stands
    as a number of its own, then the forms that name a room (`502室`, the room of `2-1-302`, a
    door number after a building, unit or floor), each replaced by `***`."""
    for room in sorted({r for r in rooms if r}, key=len, reverse=True):
        text = re.sub(rf"(?<![\d*#＃]){re.escape(room)}(?![\d*])(?:\s*(?:室|号房|房间|房|户))?",
                      ROOM_MASK, text)
    text = _COMPACT_ROOM.sub(lambda m: m.group(1) + ROOM_MASK, text)
    text = _NAMED_ROOM.sub(ROOM_MASK, text)
    return _DOOR_AFTER_PLACE.sub(lambda m: m.group(1) + ROOM_MASK, text)


def _bot_words() -> str:
    """Every text the bot writes itself (flows/texts.py), to tell a name from a word of them."""
    values = [value for value in vars(texts).values() if isinstance(value, (str, dict, tuple))]
    return "\n".join(str(value) for value in values)


_BOT_WORDS = _bot_words()


@lru_cache(maxsize=1)
def _bot_word_pairs() -> dict[str, tuple[int, ...]]:
    """Where each pair of characters stands in `_BOT_WORDS`: a name is looked for only where
    its first two characters stand (a plain search reads all ~20,000 characters, 70 µs, for
    each ticket of a month's tickets sheet)."""
    pairs: dict[str, list[int]] = {}
    for index in range(len(_BOT_WORDS) - 1):
        pairs.setdefault(_BOT_WORDS[index:index + 2], []).append(index)
    return {pair: tuple(places) for pair, places in pairs.items()}


def _is_bot_word(name: str) -> bool:
    """`name in _BOT_WORDS` for a name of two characters or more."""
    return any(_BOT_WORDS.startswith(name, index) for index in _bot_word_pairs().get(name[:2], ()))


def mask_names(text: str, names: Iterable[str]) -> str:
    """Each full name of `names` (two characters or more) in `text` → its masked form. A "name"
    that is a word of the bot's own texts (a member shown as `居民`) is no one's name: kept."""
    for name in sorted({n.strip() for n in names if len(n.strip()) > 1}, key=len, reverse=True):
        if not _is_bot_word(name):
            text = text.replace(name, mask_name(name))
    return text


def mask_text(text: str, personal: Personal = Personal()) -> str:
    """The one masking rule, for any text that leaves the micro-grid: rooms dropped (first, so
    that `12-3-1102` loses its room rather than reads as a phone), phones masked, the full names
    in `personal` shortened to the family name. Idempotent."""
    return mask_names(mask_phones(drop_rooms(text, personal.rooms)), personal.names)


def shorten(text: str, limit: int, whole: Iterable[str] = ()) -> str:
    """`text` cut to at most `limit` characters (the cut marked `…`), never inside a run of
    digits or of masking stars, nor inside any string of `whole` (a reporter's name): a number
    or a name is shown whole, to be masked whole, or not at all. Mask before shortening where
    the level is known; where it is not (a 待办 list), this keeps the later mask whole."""
    if len(text) <= limit:
        return text
    cut = max(limit - len(ELLIPSIS), 0)
    keep = [w for w in whole if w]
    moved = True
    while moved:
        moved = False
        while 0 < cut < len(text) and _in_number(text, cut):
            cut -= 1
        for word in keep:
            start = text.find(word)
            while start != -1 and start < cut:
                if cut < start + len(word):
                    cut, moved = start, True
                start = text.find(word, start + 1)
    return text[:cut].rstrip() + ELLIPSIS


def _in_number(text: str, cut: int) -> bool:
    def numeric(ch: str) -> bool:
        return ch.isdigit() or ch in "*-－ "
    return numeric(text[cut - 1]) and numeric(text[cut]) and (
        text[cut - 1].isdigit() or text[cut - 1] == "*" or text[cut].isdigit())


# -- who sees masked text --------------------------------------------------------------------------

def masked_for_node(network: Network, node_id: str) -> bool:
    """True for every node above the micro-grid level (and for an unknown node)."""
    return node_id not in network or not network.is_microgrid(node_id)


def masked_for_post(network: Network, room: str | None, recipient: str | None) -> bool:
    """Whether a post to `room` (a group) or privately to `recipient` is masked: a group above
    the micro-grid, or one the network does not know, is; a private post is unless everyone
    the recipient heads is a micro-grid."""
    if room is not None:
        node = network.node_for_room(room)
        return node is None or not network.is_microgrid(node)
    led = network.nodes_led_by(recipient) if recipient else []
    return not led or not all(network.is_microgrid(node) for node in led)


def ticket_personal(reporter_name: str | None, room: str | None) -> Personal:
    """The personal data of one ticket: its reporter's name and its room."""
    return Personal((reporter_name,) if reporter_name else (), (room,) if room else ())


def shown_actor(network: Network, actor_id: str, actor_name: str, masked: bool) -> str:
    """The name of who did a step of a ticket's history, as shown above the micro-grid: an
    official of the network, the bot or an API user by name; anyone else (a resident) masked."""
    if not masked or network.member(actor_id) is not None or actor_id.startswith("api:") \
            or actor_id == "gridbot":
        return actor_name
    return mask_name(actor_name)
