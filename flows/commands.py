"""Recognising a chat command in a message's text.

A message that *starts* with a command keyword is a command (design §4): `下单 …`, `#下单 …`,
`【下单】…`, `接单 #12`, `办结＃12 已修好`. A keyword must be followed by a separator, a ticket number
or the end of the text, so `下单了吗？` and `接单了` are not commands of this kind. Full-width
punctuation, digits and spaces are accepted everywhere.

Heads also say a command inside a short sentence (`收到，接单`, `好的，我接单了`, `#1已办结`):
`recognize_in_sentence` reads those, and the dispatcher acts on them only when a head says them.
A rating may be written in the reporter's own words (`非常满意`, `还行`, `不太满意`): `read_rating`.
Several ticket numbers may follow a keyword (`接单 #1 #2`, `办结 #1、#2 都处理好了`, `接单（#1）`,
`接单 2号单`): `CommandText.ticket_numbers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flows.normalize import Reading, displayable, reading
from flows.texts import BOT_NAME, CATEGORY_ALIASES, CATEGORY_NAMES, RATING_WORDS

# Every keyword of design §4; the dispatcher decides which of them it acts on.
KEYWORDS = ("下单", "补充", "撤单", "查询", "进度", "评价", "接单", "进展", "办结", "退单",
            "转派", "吹哨", "派单", "督办", "待办", "统计", "排名", "改类", "改紧急", "改一般", "合并",
            "拆分", "公告", "延期", "同意延期", "不同意延期", "核查", "请假", "销假", "呼叫", "报到",
            "通知", "紧急通知", "通知情况")

# Any punctuation may follow a keyword (`下单。` from voice input, `接单！`); NFKC has made it ASCII.
_SEPARATORS = r"\s:,、。.!?;~…\-—"
# Someone replying in WeChat often starts with "@网格小助手 " (the name, then U+2005 or a space);
# WeCom puts no separator after the bot's own name (`@网格小助手接单`).
_LEADING_MENTIONS = rf"(?:@{re.escape(BOT_NAME)}\s*|@[^\s@]{{1,32}}\s+)*"
_KEYWORD_ALT = "|".join(sorted(KEYWORDS, key=len, reverse=True))
# Residents often type `下单楼道灯坏了` with no space; but `下单了吗`, `下单的米`, `下单员` use 下单
# as a word of a sentence. After 下单, what cannot start such a sentence tail starts the
# description: 前天, 着火, 就是说, 地下车库, 要是 do (`下单前天有条狗…`, `下单着火了…`).
_SENTENCE_TAIL = ("了|的|吗|呢|吧|啊|呀|么|嘛|啦|哦|喔|员|子|量|时|后|前(?!天|几天|两天|段时间)|过|完"
                  "|成|还|就(?!是)|都|也|没|不|要(?!是)|去|来|给|得|地(?![下面上板])|着(?!火)|买|卖")
_COMMAND = re.compile(  # used with .match(text, position): anchored where it starts
    rf"\s*{_LEADING_MENTIONS}"
    rf"(?:【(?P<bracketed>{_KEYWORD_ALT})】|#?(?P<plain>{_KEYWORD_ALT})"
    rf"(?=$|[{_SEPARATORS}#第0-9(\[【])|#?(?P<glued>下单)(?=[\u4e00-\u9fff])(?!{_SENTENCE_TAIL}))"
    rf"[{_SEPARATORS}]*(?P<rest>.*)\Z",
    re.DOTALL,
)
# One ticket number: `#12`, `12`, `第12号`, `2号单`, `(#1)`, `【#1】`; not the start of a place
# (`3号楼`, `12栋`, `2单元`) nor a count (`3个灯`, `2天`). Read on NFKC text.
_ONE_NUMBER = (
    r"[(\[【]?\s*(?:第\s*)?(?P<hash>#)?\s*(?P<digits>[0-9]{1,9})"
    r"(?P<mark>\s*号单(?!元)|\s*号(?![楼栋幢院单])|\s*单(?![元位]))?"
    r"(?![0-9]|\s*[号#]?\s*[楼栋幢层单室户座]|\s*[个件只户人天点次岁元块米分秒年月日周位辆台])"
    r"\s*[)\]】]?"
)
_TICKET_NUMBER = re.compile(rf"{_ONE_NUMBER}[{_SEPARATORS}]*")
# A further number of a list (`#1 #2`, `#1、#2`, `#1和#2`): it must be marked (`#`, `第`, `号单`)
# or stand alone, so that `办结 #1 3个灯都换了` keeps its text.
_NEXT_NUMBER = re.compile(
    rf"\s*(?:[,、/&+]|和|及|与|跟|还有)?\s*{_ONE_NUMBER}(?=$|[{_SEPARATORS}(\[【#]|[^\u4e00-\u9fff0-9])"
)
_MARKED_NEXT = re.compile(
    rf"\s*(?:[,、/&+]|和|及|与|跟|还有)?\s*{_ONE_NUMBER}"
)
MAX_NUMBERS = 10  # more numbers than this in one command is refused as a whole


@dataclass(frozen=True)
class CommandText:
    """A message that starts with a command keyword, split into its parts.

    `rest` is everything after the keyword and its separators, as the person typed it (stripped;
    gateway emoji markup shown as the emoji); `reading` is the same part normalised
    (`flows.normalize`), which is what numbers and words are recognised in. `in_sentence` marks a
    command said inside a short sentence (`好的，我接单了`), which only a head's message counts as;
    `numbers_before` are ticket numbers written before its keyword (`#1已办结`).
    """

    keyword: str
    rest: str
    reading: str = ""
    in_sentence: bool = False
    numbers_before: tuple[int, ...] = ()
    _source: Reading | None = field(default=None, repr=False, compare=False)
    _start: int = field(default=0, repr=False, compare=False)

    def ticket_number(self) -> tuple[int | None, str]:
        """The ticket number written first, and the text after the number(s) as typed."""
        numbers, rest = self.ticket_numbers()
        return (numbers[0] if numbers else None), rest

    def ticket_numbers(self) -> tuple[tuple[int, ...], str]:
        """Every ticket number written (`接单 #1 #2`, `办结 #1、#2 都处理好了`), each once, in
        order, and the text after them as typed: `((1, 2), "都处理好了")`; `((), rest)` when the
        command names no number."""
        numbers = list(self.numbers_before)
        match = _TICKET_NUMBER.match(self.reading)
        end = 0
        if match is not None:
            numbers.append(int(match.group("digits")))
            end = match.end()
            while True:
                following = _NEXT_NUMBER.match(self.reading, end) or _marked_next(self.reading, end)
                if following is None:
                    break
                numbers.append(int(following.group("digits")))
                end = following.end()
                while end < len(self.reading) and re.match(rf"[{_SEPARATORS}]", self.reading[end]):
                    end += 1
        numbers = list(dict.fromkeys(numbers))
        if end == 0:
            return tuple(numbers), self.rest
        if self._source is None:
            return tuple(numbers), self.reading[end:].strip()
        after = self._source.original_from(self._start + end)
        return tuple(numbers), displayable(after).strip()


def _marked_next(text: str, position: int) -> re.Match[str] | None:
    """A further number written with a mark (`#2`, `2号单`), whatever follows it."""
    match = _MARKED_NEXT.match(text, position)
    if match is None or not (match.group("hash") or match.group("mark")):
        return None
    return match


def recognize(text: str) -> CommandText | None:
    """The command a message starts with, or None for chatter. Recognised on the normalised
    text (`flows.normalize.reading`): traditional characters, full-width forms, emoji and a leading
    @ of the bot make no difference."""
    return _recognize_from(reading(text), 0)


def _recognize_from(source: Reading, offset: int) -> CommandText | None:
    match = _COMMAND.match(source.text, offset)
    if match is None:
        return None
    keyword = match.group("bracketed") or match.group("plain") or match.group("glued")
    rest_reading = match.group("rest")
    start = match.start("rest") + (len(rest_reading) - len(rest_reading.lstrip()))
    return CommandText(keyword=keyword, rest=displayable(source.original_from(start)).strip(),
                       reading=rest_reading.strip(), _source=source, _start=start)


# -- a head's command inside a short sentence ------------------------------------------------------

# Only these are said in a sentence; 下单 must start a message (design §4), the others are rare.
SENTENCE_KEYWORDS = ("接单", "办结", "吹哨")
_SENTENCE_MAX = 24  # characters of the normalised text; a longer message is talk, not a command
# What may stand before the keyword: acknowledgements and "I / now / already"; never a question
# word or a negation (`谁来接单`, `还没接单`, `不接单`), so those stay chatter.
_FILLERS_BEFORE = sorted((
    "收到", "好的", "好嘞", "好滴", "好勒", "好", "嗯嗯", "嗯", "哦", "噢", "行", "可以", "ok", "okay",
    "没问题", "明白", "明白了", "了解", "知道了", "马上", "立即", "立刻", "这就", "现在", "我", "我来",
    "我去", "我先", "我们", "我这边", "这边", "本人", "由我", "让我", "来", "先", "已", "已经", "都",
    "全部", "均", "帮忙", "这个单", "这单", "该单", "此单", "这张单", "的", "单",
), key=len, reverse=True)
_FILLERS_AFTER = sorted((
    "了", "啦", "哈", "哦", "咯", "喽", "嘞", "呀", "啊", "吧", "哟", "好了", "完毕", "完成", "一下",
    "了哈", "了啊", "ok",
), key=len, reverse=True)
_SENTENCE_MARK = re.compile(rf"[{_SEPARATORS}]+")
# A clause that asks or denies: `接单了，谁负责？`, `办结了，没修好`.
_ASKING = re.compile(r"[?吗呢谁么没不别未]|什么|怎么|为啥|为什么|是否")
_MARKED_NUMBER = re.compile(
    r"[(\[【]?\s*(?:第\s*)?(?P<hash>#)?\s*(?P<digits>[0-9]{1,9})(?P<mark>\s*号单|\s*号)?\s*[)\]】]?")


def recognize_in_sentence(text: str) -> CommandText | None:
    """A command said inside a short sentence: `收到，接单`, `好的，我接单了`, `我来接单`,
    `接单了`, `#1已办结`, `好的，办结 #1 已修好`. Returns the command with `in_sentence=True`, or
    None when the text is not that (a question, a negation, a longer message, 下单, or a command
    `recognize` reads already). Whether it counts is for the dispatcher: only a head's does."""
    source = reading(text)
    body = source.text
    lead = re.match(rf"^\s*{_LEADING_MENTIONS}", body)
    position = lead.end() if lead else 0
    if len(body.strip()) > _SENTENCE_MAX or recognize(text) is not None:
        return None
    found = [m for m in re.finditer(_KEYWORD_ALT, body)]
    if len(found) != 1 or found[0].group() not in SENTENCE_KEYWORDS:
        return None
    keyword_at = found[0].start()
    numbers: list[int] = []
    while position < keyword_at:
        step = _SENTENCE_MARK.match(body, position)
        if step is None:
            number = _MARKED_NUMBER.match(body, position)
            if number is not None and number.end() <= keyword_at and (
                    number.group("hash") or number.group("mark")):
                numbers.append(int(number.group("digits")))
                position = number.end()
                continue
            lowered = body[position:keyword_at].lower()
            filler = next((f for f in _FILLERS_BEFORE if lowered.startswith(f)), None)
            if filler is None:
                return None
            position += len(filler)
            continue
        position = step.end()
    if position != keyword_at:
        return None
    strict = _recognize_from(source, keyword_at)
    if strict is not None:
        return CommandText(strict.keyword, strict.rest, strict.reading, True, tuple(numbers),
                           _source=source, _start=strict._start)
    # The keyword, then only particles (`接单了`, `办结啦`), maybe a marked number (`接单了 #2`),
    # maybe a short clause after a separator that asks nothing (`接单了，马上去看`).
    position = found[0].end()
    while position < len(body):
        step = _SENTENCE_MARK.match(body, position)
        if step is not None:
            if step.end() < len(body) and _ASKING.search(body, step.end()) is None \
                    and position > found[0].end():
                break
            position = step.end()
            continue
        number = _MARKED_NUMBER.match(body, position)
        if number is not None and (number.group("hash") or number.group("mark")):
            numbers.append(int(number.group("digits")))
            position = number.end()
            continue
        lowered = body[position:].lower()
        filler = next((f for f in _FILLERS_AFTER if lowered.startswith(f)), None)
        if filler is None:
            return None
        position += len(filler)
    return CommandText(found[0].group(), "", "", True, tuple(numbers))


# -- a rating in the reporter's own words ----------------------------------------------------------

_RATING = [(re.compile(rf"^\s*(?:{pattern})"), rating) for pattern, rating in RATING_WORDS]
# After the rating words: the end, punctuation, a particle or thanks (`满意了`, `很满意，谢谢`);
# not another word (`一般来说…`, `还好有网格长`).
_RATING_END = re.compile(rf"$|[{_SEPARATORS}()\[\]【】「」\"'~]|[了的啊呀哦啦哈嘛呢噢吧]|谢|感谢|[^\u4e00-\u9fff]")
_RATING_COMMENT_LEAD = rf"[{_SEPARATORS}了的啊呀哦啦哈嘛呢噢吧]*"


@dataclass(frozen=True)
class Rating:
    """A rating as the reporter wrote it: what it counts as (满意 / 基本满意 / 不满意), the words
    they used, and what follows them as typed (a comment)."""

    rating: str
    words: str
    comment: str


def read_rating(text: str) -> Rating | None:
    """`"非常满意，谢谢网格长"` → `Rating("满意", "非常满意", "谢谢网格长")`; `"还行"` → 基本满意;
    `"不太满意 灯还是闪"` → 不满意 with its comment; None when the text does not start with a
    rating. Read on the normalised text (traditional characters, full-width forms)."""
    source = reading(text)
    for pattern, rating in _RATING:
        match = pattern.match(source.text)
        if match is None or not _RATING_END.match(source.text, match.end()):
            continue
        lead = re.compile(_RATING_COMMENT_LEAD).match(source.text, match.end())
        after = source.original_from(lead.end()) if lead.end() < len(source.text) else ""
        comment = displayable(after).strip(" \t\u3000\u2005:：,，。.!！~")
        return Rating(rating, match.group().strip(), comment)
    return None


_TICKET_REFERENCE = re.compile(r"#\s*(?P<digits>[0-9]{1,9})")


def find_ticket_reference(text: str) -> int | None:
    """The first `#N` anywhere in a text, e.g. in the bot notice a reply quotes."""
    match = _TICKET_REFERENCE.search(reading(text).text)
    return None if match is None else int(match.group("digits"))


def find_ticket_references(text: str) -> tuple[int, ...]:
    """Every distinct `#N` in a text, in order: `"本群有 2 张待接的单（#1、#2）"` → `(1, 2)`."""
    found = (int(m.group("digits")) for m in _TICKET_REFERENCE.finditer(reading(text).text))
    return tuple(dict.fromkeys(found))


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


# What an @-mention may be, up to where WeChat ends it (U+2005), a line break or another @: a name
# with spaces (`@Amy 周\u2005`) or a name running on into the sentence (`@周敏请跟进`).
# `＠` too: what a Chinese input method types in its full-width mode.
_MENTION_SPAN = re.compile(r"(?<![A-Za-z0-9._%+-])[@＠](?P<span>[^@＠\u2005\n]{1,32})")


def mention_spans(text: str) -> list[str]:
    """What follows each `@` (or `＠`) of a text up to the mention's end, in order, stripped:
    `"转派 #1 @Amy 周\u2005她住4栋"` → `["Amy 周"]`; `"@周敏请跟进"` → `["周敏请跟进"]`. Which
    member each names is `flows.network.Network.resolve_mention`'s to say."""
    spans = (match.group("span").strip() for match in _MENTION_SPAN.finditer(text))
    return [span for span in spans if span]


def rating_reply(text: str, quoted: str | None) -> CommandText | None:
    """A reply that quotes a notice about `#N` and starts with a rating (`满意`, `非常满意，谢谢`,
    `不满意 灯又坏了`) is `评价` of that ticket (design §4: "or reply to the resolution notice")."""
    if quoted is None or find_ticket_reference(quoted) is None:
        return None
    stripped = text.strip()
    if read_rating(stripped) is None:
        return None
    return CommandText(keyword="评价", rest=stripped)


# -- 改类: the category a head names -------------------------------------------------------------

_CATEGORY_WORDS = {**{code: code for code in CATEGORY_NAMES},
                   **{name: code for code, name in CATEGORY_NAMES.items()}, **CATEGORY_ALIASES}
_CATEGORY_LEAD = re.compile(rf"[{_SEPARATORS}【\[(「]*(?:改为|改成|改到|为|成|到|是)?[{_SEPARATORS}【\[(「]*")


def read_category(text: str) -> str | None:
    """The category code a head names after `改类 #N`: its Chinese name (`报修`, `安全隐患`), its
    code (`repair`) or a common word for it (`维修`, `纠纷`, `城管`), optionally after `为` / `改为`
    or in brackets. None when the text names none."""
    source = reading(text).text.strip().lower()
    lead = _CATEGORY_LEAD.match(source)
    word = source[lead.end():] if lead else source
    for candidate in sorted(_CATEGORY_WORDS, key=len, reverse=True):
        if word.startswith(candidate):
            return _CATEGORY_WORDS[candidate]
    return None
