"""The bot's own posts, recognised when they come back as a member's message (design §4: the bot
"never acts on its own messages or on its notices pasted by someone else").

A gateway echoes the bot's posts with the bot as sender: the transport knows the bot's member id
and the dispatcher leaves those alone. A member may also paste a notice into a group (forwarding
a 吹哨 to a colleague, copying 已受理 #3 into the household group). Two tests tell such a paste
from a command, on the text as compared (`comparable`: full-width forms folded by NFKC, all
whitespace and WeChat's mention separator dropped, leading @-mentions and a `网格小助手：` prefix
taken off):

- `is_notice_form`: the text is one of the bot's notice forms (the templates of `flows.texts`,
  their fields filled in), or starts with the first line of one that only the bot writes
  (`已受理 #N…`, `【吹哨】#N…`, `【督办】#N…`, `【再次提醒】#N…`, a digest's header, `本群有 N
  张待接的单…`);
- `nearly_same`: the text is one of the bot's recent posts, exactly or nearly (a character or
  two changed in copying).

A reply that quotes a notice is still a reply: only the member's own text is compared.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from functools import cache

from flows import texts

__all__ = ["comparable", "is_notice_form", "nearly_same", "search_fragment"]

# Every notice of the bot a member might paste, matched in full.
_FULL_FORMS = (
    texts.TICKET_CREATED, texts.TICKET_CREATED_ELSEWHERE, texts.ESCALATED, texts.REMINDER,
    texts.TICKET_CREATED_WITH_PLACE_HEAD, texts.TICKET_CREATED_WITH_PLACE_HEAD_AND_CO_HANDLERS,
    texts.SUPERVISED, texts.CLAIMED, texts.ALREADY_CLAIMED, texts.ALREADY_YOURS, texts.RESOLVED,
    texts.RESOLVED_WITHOUT_NOTE, texts.TAKEN_OVER, texts.SEVERAL_WAITING, texts.GIVEN_BACK,
    texts.TRANSFERRED, texts.DISPATCHED, texts.WHISTLE_BLOWN, texts.REOPENED, texts.RATED,
    texts.CLAIMED_ELSEWHERE, texts.TAKEN_OVER_ELSEWHERE, texts.DISPATCHED_ELSEWHERE,
    texts.RESOLVED_ELSEWHERE, texts.CANCELLED_ELSEWHERE, texts.RECALLED,
    texts.RECALLED_ELSEWHERE, texts.RECALLED_WHILE_HANDLED, texts.AUTO_CLOSED,
    texts.SUPERVISION_SENT, texts.WHICH_ONE, texts.TOO_MANY_REQUESTS,
)
# Notices whose first line alone is the bot's: a paste of that line is a paste.
_FIRST_LINE_FORMS = (
    texts.TICKET_CREATED, texts.TICKET_CREATED_ELSEWHERE, texts.ESCALATED, texts.REMINDER,
    texts.SUPERVISED, texts.DIGEST_HEADER, texts.SEVERAL_WAITING, texts.QUERY_HEADER,
)
# What each field of a template may be; a field not named here is any text.
_FIELDS = {
    "number": r"[0-9]{1,9}",
    "count": r"[0-9]{1,9}",
    "limit": r"[0-9]{1,9}",
    "urgent": "(?:" + re.escape(texts.URGENT_MARK) + ")?",
    "category": "(?:" + "|".join(map(re.escape, texts.CATEGORY_NAMES.values())) + ")",
    "handler": r"[^\n]{1,64}?", "previous": r"[^\n]{1,64}?", "target": r"[^\n]{1,64}?",
    "dispatcher": r"[^\n]{1,64}?", "supervisor": r"[^\n]{1,64}?", "rating": r"[^\n]{1,8}?",
}
_FIELD = re.compile(r"\{(\w+)\}")
_LEADING = re.compile(rf"\A\s*(?:@[^@\u2005\n]{{1,32}}\u2005\s*|@\S{{1,32}}\s+)*"
                      rf"(?:{re.escape(texts.BOT_NAME)}\s*[:：]\s*)?")
_SPACE = re.compile(r"[\s\u2005\u200b]+")


def comparable(text: str) -> str:
    """`text` as the bot's posts are compared with it: leading @-mentions and a `网格小助手：`
    prefix taken off, NFKC, no whitespace. `"@邱煥武\\u2005已受理 #2【报修】"` → `"已受理#2【报修】"`."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", _LEADING.sub("", text, count=1)))


def _pattern(template: str) -> str:
    parts, end = [], 0
    for match in _FIELD.finditer(template):
        parts.append(re.escape(comparable_literal(template[end:match.start()])))
        parts.append(_FIELDS.get(match.group(1), r".*?"))
        end = match.end()
    parts.append(re.escape(comparable_literal(template[end:])))
    return "".join(parts)


def comparable_literal(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


@cache
def _forms() -> tuple[re.Pattern[str], re.Pattern[str]]:
    full = "|".join(f"(?:{_pattern(template)})" for template in _FULL_FORMS)
    first = "|".join(f"(?:{_pattern(template.split(chr(10), 1)[0])})"
                     for template in _FIRST_LINE_FORMS)
    return re.compile(rf"\A(?:{full})\Z", re.DOTALL), re.compile(rf"\A(?:{first})\Z", re.DOTALL)


def is_notice_form(text: str) -> bool:
    """Whether `text` (a member's message, its quote taken off) is one of the bot's notices or
    the first line of one only the bot writes. Never raises."""
    full, first = _forms()
    whole = comparable(text)
    if not whole:
        return False
    if full.match(whole):
        return True
    first_line = comparable(text.strip().split("\n", 1)[0])
    return bool(first_line) and first.match(first_line) is not None


NEARLY = 0.9  # difflib's ratio at or above which two texts are the same post, copied


def nearly_same(text: str, post: str) -> bool:
    """Whether a member's `text` is the bot's `post` copied, exactly or nearly (a ratio of at
    least `NEARLY` between their comparable forms)."""
    a, b = comparable(text), comparable(post)
    if not a or not b:
        return False
    if a == b:
        return True
    if min(len(a), len(b)) < NEARLY * max(len(a), len(b)):
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= NEARLY


_FRAGMENT = re.compile(r"[^\s\u2005@%_\\]{6,}")


def search_fragment(text: str, longest: int = 16) -> str | None:
    """A run of at least 6 characters of `text` as typed (no space, no `%`, `_` or `\\`), for a
    database `LIKE` to find the posts it may copy; None when there is none."""
    body = _LEADING.sub("", text, count=1)
    runs = _FRAGMENT.findall(body)
    if not runs:
        return None
    return max(runs, key=len)[:longest]
