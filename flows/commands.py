"""Recognising a chat command in a message's text.

Only a message that *starts* with a command keyword is a command (design §4): `下单 …`, `#下单 …`,
`【下单】…`, `接单 #12`, `办结＃12 已修好`. A keyword must be followed by a separator, a ticket number
or the end of the text, so `下单了吗？` and `接单了` stay chatter. Full-width punctuation, digits and
spaces are accepted everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flows.normalize import Reading, displayable, reading
from flows.texts import BOT_NAME, RATINGS

# Every keyword of design §4; the dispatcher decides which of them it acts on.
KEYWORDS = ("下单", "补充", "撤单", "查询", "进度", "评价", "接单", "进展", "办结", "退单",
            "转派", "吹哨", "派单", "督办", "待办", "统计")

# Any punctuation may follow a keyword (`下单。` from voice input, `接单！`); NFKC has made it ASCII.
_SEPARATORS = r"\s:,、。.!?;~…\-—"
# Someone replying in WeChat often starts with "@网格小助手 " (the name, then U+2005 or a space);
# WeCom puts no separator after the bot's own name (`@网格小助手接单`).
_LEADING_MENTIONS = rf"(?:@{re.escape(BOT_NAME)}\s*|@[^\s@]{{1,32}}\s+)*"
_KEYWORD_ALT = "|".join(KEYWORDS)
# Residents often type `下单楼道灯坏了` with no space; but `下单了吗`, `下单的米`, `下单员` use 下单
# as a word of a sentence. After 下单, a Chinese character that cannot start such a sentence
# tail starts the description.
_SENTENCE_TAIL = "了的吗呢吧啊呀么嘛啦哦喔员子量时后前过完成还就都也没不要去来给得地着买卖"
_COMMAND = re.compile(
    rf"^\s*{_LEADING_MENTIONS}"
    rf"(?:【(?P<bracketed>{_KEYWORD_ALT})】|#?(?P<plain>{_KEYWORD_ALT})"
    rf"(?=$|[{_SEPARATORS}#第0-9(\[])|#?(?P<glued>下单)(?=[\u4e00-\u9fff])(?![{_SENTENCE_TAIL}]))"
    rf"[{_SEPARATORS}]*(?P<rest>.*)\Z",
    re.DOTALL,
)
# `#12`, `12`, `第12号`; not the start of a place such as `3号楼` or `12栋`. Read on NFKC text.
_TICKET_NUMBER = re.compile(
    r"^(?:第\s*)?#?\s*(?P<digits>[0-9]{1,9})(?:\s*号(?![楼栋幢院]))?"
    r"(?![0-9]|\s*[号#]?\s*[楼栋幢层单室])"
    rf"[{_SEPARATORS}]*",
)


@dataclass(frozen=True)
class CommandText:
    """A message that starts with a command keyword, split into its parts.

    `rest` is everything after the keyword and its separators, as the person typed it (stripped;
    gateway emoji markup shown as the emoji); `reading` is the same part normalised
    (`flows.normalize`), which is what numbers and words are recognised in.
    """

    keyword: str
    rest: str
    reading: str = ""
    _source: Reading | None = field(default=None, repr=False, compare=False)
    _start: int = field(default=0, repr=False, compare=False)

    def ticket_number(self) -> tuple[int | None, str]:
        """The ticket number written first in `rest`, and the text after it as typed."""
        match = _TICKET_NUMBER.match(self.reading)
        if match is None:
            return None, self.rest
        if self._source is None:
            return int(match.group("digits")), self.reading[match.end():].strip()
        after = self._source.original_from(self._start + match.end())
        return int(match.group("digits")), displayable(after).strip()


def recognize(text: str) -> CommandText | None:
    """The command a message starts with, or None for chatter. Recognised on the normalised
    text (`flows.normalize.reading`): traditional characters, full-width forms, emoji and a leading
    @ of the bot make no difference."""
    source = reading(text)
    match = _COMMAND.match(source.text)
    if match is None:
        return None
    keyword = match.group("bracketed") or match.group("plain") or match.group("glued")
    rest_reading = match.group("rest")
    start = match.start("rest") + (len(rest_reading) - len(rest_reading.lstrip()))
    return CommandText(keyword=keyword, rest=displayable(source.original_from(start)).strip(),
                       reading=rest_reading.strip(), _source=source, _start=start)


def split_ticket_number(text: str) -> tuple[int | None, str]:
    """`"#12 已修好"` → `(12, "已修好")`; `"已修好"` → `(None, "已修好")`."""
    source = reading(text.strip())
    return CommandText("", source.original, source.text, source, 0).ticket_number()


_TICKET_REFERENCE = re.compile(r"#\s*(?P<digits>[0-9]{1,9})")


def find_ticket_reference(text: str) -> int | None:
    """The first `#N` anywhere in a text, e.g. in the bot notice a reply quotes."""
    match = _TICKET_REFERENCE.search(reading(text).text)
    return None if match is None else int(match.group("digits"))


def request_description(text: str) -> str | None:
    """The description of a `下单` request: None when the text is not one, "" when it is bare."""
    command = recognize(text)
    if command is None or command.keyword != "下单":
        return None
    return command.rest


# WeChat gateways pass a quoting reply as plain text: `「name：quoted」\n- - - - - - -\nreply`.
_QUOTE = re.compile(r"\A\s*「(?P<quoted>.*)」\s*\n\s*(?:-\s*){3,}\n(?P<reply>.*)\Z", re.DOTALL)


def split_quote(text: str) -> tuple[str | None, str]:
    """`"「网格小助手：已受理 #3…」\\n- - - -\\n接单"` → `("网格小助手：已受理 #3…", "接单")`;
    a message that quotes nothing → `(None, text)`."""
    match = _QUOTE.match(text)
    if match is None:
        return None, text
    return match.group("quoted"), match.group("reply")


# `@周敏` ends at U+2005 (what WeChat puts after a mention), a space, or the end of the text;
# an e-mail address (`a@b.cn`) is not a mention.
_MENTION = re.compile(r"(?<![A-Za-z0-9._%+-])@(?P<name>[^\s@\u2005]{1,32})(?=[\s\u2005]|\Z)")


def mentioned_names(text: str) -> list[str]:
    """The display names @-mentioned in a text, in order, each once."""
    return list(dict.fromkeys(match.group("name") for match in _MENTION.finditer(text)))


def without_mentions(text: str) -> str:
    """The text with its @-mentions taken out (a reason written after `转派 #12 @周敏`)."""
    return _MENTION.sub("", text).strip(" \t\u2005\u3000:：,，")


def rating_reply(text: str, quoted: str | None) -> CommandText | None:
    """A reply that quotes a notice about `#N` and starts with a rating (`满意`, `不满意 灯又坏了`)
    is `评价` of that ticket (design §4: "or reply to the resolution notice")."""
    if quoted is None or find_ticket_reference(quoted) is None:
        return None
    stripped = text.strip()
    if not stripped.startswith(RATINGS):
        return None
    return CommandText(keyword="评价", rest=stripped)
