"""Splitting a post to the chat service's limits (design §7 "Every post the bot makes").

WeChat cuts a text near 2,000 characters, WeCom's robots refuse more than 2,048 bytes of UTF-8.
A post longer than either limit becomes several, cut between lines (a single line longer than a
part is cut between characters, never inside a character's combining marks), each part after the
first starting with its mark `（续 n/m）`. Every post of the bot (notices, 查询 answers, digests)
is split here, once, after it was masked.

Pure: text and limits in, the parts out.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flows import texts


@dataclass(frozen=True)
class PostLimits:
    """The longest post a transport takes: `chars` characters and `bytes` bytes of UTF-8."""

    chars: int
    bytes: int

    def fits(self, text: str, reserve: int = 0) -> bool:
        """`text` fits with `reserve` characters (written before it: mentions) to spare."""
        return (len(text) + reserve <= self.chars
                and len(text.encode("utf-8")) + 4 * reserve <= self.bytes)


def _size(text: str) -> tuple[int, int]:
    return len(text), len(text.encode("utf-8"))


def _marker(part: int, parts: int) -> str:
    return texts.POST_CONTINUED.format(part=part, parts=parts) + "\n"


def split_post(text: str, limits: PostLimits, first_reserve: int = 0) -> list[str]:
    """`text` as posts of at most `limits.chars` characters and `limits.bytes` UTF-8 bytes
    each, the marks included; the first keeps `first_reserve` characters (counted 4 bytes each)
    free for what the transport writes in front of it (`@name ` per mention). One part when it
    fits. Raises ValueError when the limits leave no room for a mark and a character."""
    if limits.fits(text, first_reserve):
        return [text]
    parts_guess = 9
    while True:
        mark_chars, mark_bytes = _size(_marker(parts_guess, parts_guess))
        room = (limits.chars - mark_chars, limits.bytes - mark_bytes)
        first_room = (limits.chars - first_reserve, limits.bytes - 4 * first_reserve)
        if min(*room, *first_room) < 4:
            raise ValueError(f"post limits {limits} leave no room to split a post into")
        bodies = _fill(text.split("\n"), first_room, room)
        if len(bodies) <= parts_guess:
            break
        parts_guess = parts_guess * 10 + 9  # the marks grow a digit: split again with more room
    if len(bodies) == 1:
        return bodies
    return [(_marker(n, len(bodies)) if n > 1 else "") + body
            for n, body in enumerate(bodies, start=1)]


def _fill(lines: list[str], first_room: tuple[int, int], room: tuple[int, int]) -> list[str]:
    """Lines packed into as few bodies as fit in `room` (the first in `first_room`), in order.
    A line goes whole into the body it fits in, else whole into a new one; a line no body could
    hold is cut between characters, its first piece filling what the body in hand has left."""
    bodies: list[list[str]] = [[]]
    used = [0, 0]

    def left() -> tuple[int, int]:
        cap = first_room if len(bodies) == 1 else room
        joiner = 1 if bodies[-1] else 0
        return cap[0] - used[0] - joiner, cap[1] - used[1] - joiner

    def put(piece: str) -> None:
        chars, size = _size(piece)
        joiner = 1 if bodies[-1] else 0
        bodies[-1].append(piece)
        used[0] += joiner + chars
        used[1] += joiner + size

    def new_body() -> None:
        bodies.append([])
        used[0] = used[1] = 0

    for line in lines:
        chars, size = _size(line)
        space = left()
        if chars <= space[0] and size <= space[1]:
            put(line)
            continue
        if chars <= room[0] and size <= room[1] and bodies[-1]:
            new_body()
            put(line)
            continue
        # (A first line too long only for the first body's smaller room is cut too: moving it
        # whole would leave the first part, the one with the mentions, empty.)
        while line:
            space = left()
            cut = _longest_prefix(line, space) if min(space) >= 4 else 0
            if cut == 0:
                new_body()
                continue
            put(line[:cut])
            line = line[cut:]
            if line:
                new_body()
    return ["\n".join(body) for body in bodies]


def _longest_prefix(line: str, cap: tuple[int, int]) -> int:
    """How many characters of `line` fit in `cap`, ending on a character boundary that does not
    part a character from its combining marks, variation selectors or joiners."""
    size = 0
    cut = 0
    for index, ch in enumerate(line[:cap[0]]):
        size += len(ch.encode("utf-8"))
        if size > cap[1]:
            break
        cut = index + 1
    end = cut
    while end > 1 and end < len(line) and _clings(line[end], line[end - 1]):
        end -= 1
    return end


def _clings(ch: str, before: str) -> bool:
    return (unicodedata.combining(ch) > 0 or ch in "\u200d\ufe0e\ufe0f"
            or before == "\u200d" or "\U0001f3fb" <= ch <= "\U0001f3ff")
