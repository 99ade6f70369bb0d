"""One normalisation step before anything in a message is recognised (commands, requests, numbers).

People type commands and requests in many forms that mean the same (design §4: "full-width
punctuation and spaces are normal", "traditional characters, emoji"). Everything that reads a
message reads it through `reading()`:

- gateway emoji markup (`<img class="emoji emoji1f62d" …/>`) and emoji are read as a space (they
  part words as punctuation would: `下单👉要是…`); a keycap (`3️⃣`) is its digit;
- WeChat's `[表情]` codes (`[捂脸]`, `[流泪]`) are read as a space too; media placeholders
  (`[图片]`, `[语音]`) are kept, so that a request made only of one can be told apart;
- Unicode NFKC (full-width letters, digits and punctuation to their ASCII forms), except U+2005,
  which ends a WeChat mention;
- traditional characters to simplified ones, by OpenCC's `t2s` conversion;
- digits spoken one by one (`三零二`, `幺五零二`) to Arabic digits.

The stored text is kept as it came. A `Reading` remembers where each of its characters came from,
so what follows a keyword can be handed on as the person typed it (`Reading.original_from`).
`displayable()` is the text as it may be shown back: gateway markup turned into the emoji it stands
for, never echoed as markup.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import opencc

__all__ = ["MEDIA_PLACEHOLDERS", "Reading", "displayable", "is_placeholder_only", "reading"]

# What WeChat and its gateways put in a text in place of a photo, a voice message, a video…
MEDIA_PLACEHOLDERS = ("图片", "语音", "视频", "文件", "动画表情", "表情", "位置", "链接", "名片",
                      "小程序", "聊天记录", "音乐", "红包", "转账")
# WeChat's built-in expressions as they appear in a text, simplified (after OpenCC).
_WECHAT_EXPRESSIONS = (
    "微笑 撇嘴 色 发呆 得意 流泪 害羞 闭嘴 睡 大哭 尴尬 发怒 调皮 呲牙 惊讶 难过 酷 冷汗 抓狂 吐 偷笑 "
    "愉快 可爱 白眼 傲慢 饥饿 困 惊恐 流汗 憨笑 悠闲 大兵 奋斗 咒骂 疑问 嘘 晕 疯了 衰 骷髅 敲打 再见 "
    "擦汗 抠鼻 鼓掌 糗大了 坏笑 左哼哼 右哼哼 哈欠 鄙视 委屈 快哭了 阴险 亲亲 吓 可怜 菜刀 西瓜 啤酒 "
    "篮球 乒乓 咖啡 饭 猪头 玫瑰 凋谢 嘴唇 爱心 心碎 蛋糕 闪电 炸弹 刀 足球 瓢虫 便便 月亮 太阳 礼物 "
    "拥抱 强 弱 握手 胜利 抱拳 勾引 拳头 差劲 爱你 NO OK 爱情 飞吻 跳跳 发抖 怄火 转圈 磕头 回头 "
    "跳绳 投降 激动 乱舞 献吻 左太极 右太极 笑脸 生病 破涕为笑 吐舌 脸红 恐惧 失望 无语 嘿哈 捂脸 奸笑 "
    "机智 皱眉 耶 吃瓜 加油 汗 天啊 Emm 社会社会 旺柴 好的 打脸 哇 翻白眼 666 让我看看 叹气 苦涩 "
    "裂开 合十 庆祝 烟花 爆竹 福 发 红包 鸡 Yeah! 我看看 叹气 苦涩 鬼魂 狗头 哭笑 捂嘴 点赞 无奈 "
    "哭 笑 汗颜 委屈巴巴 心 赞 doge 二哈 抱抱 允悲 憧憬 ok"
).split()
_EXPRESSION = re.compile(r"\[(?:" + "|".join(sorted(map(re.escape, set(_WECHAT_EXPRESSIONS)),
                                                      key=len, reverse=True)) + r")\]")
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(MEDIA_PLACEHOLDERS) + r")\]")
# Web gateways hand an emoji on as markup: <img class="emoji emoji1f62d" …/> or
# <span class="emoji emoji1f62d"></span>.
_MARKUP = re.compile(r"<(?:img|span)\b[^<>]*?\bemoji([0-9a-fA-F]{4,6})\b[^<>]*>(?:\s*</span>)?")
_KEYCAP = re.compile("([0-9#*])\uFE0F?\u20E3")
# Where an emoji may start: most text has none of these, and skips the emoji library entirely.
_MAY_HOLD_EMOJI = re.compile("[\u00a9\u00ae\u203c-\u3299\uFE0F\U0001F000-\U0001FAFF]")
# Digits spoken one by one: three or more (三零二 → 302), or two when one is 零/幺 (幺零 → 10). 十
# and 两 are counting words, never spoken digits, so 二十栋 and 两三天 are left to the grammar.
_SPOKEN = re.compile("[零〇幺一二三四五六七八九]{3,}|[零〇幺][零〇幺一二三四五六七八九]|[一二三四五六七八九][零〇幺]")
_SPOKEN_VALUE = str.maketrans("零〇幺一二三四五六七八九", "001123456789")
_MENTION_END = "\u2005"
_FULL_WIDTH = str.maketrans({**{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},
                             "\u3000": " "})


@cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@dataclass(frozen=True)
class Reading:
    """A message's text as it is recognised (`text`), and where each character came from."""

    text: str
    original: str
    origin: tuple[int, ...]  # origin[i]: index in `original` of text[i]

    def original_from(self, index: int) -> str:
        """What the person typed from the character `text[index]` on, as typed."""
        if index >= len(self.text):
            return ""
        return self.original[self.origin[index]:]

    def original_between(self, start: int, end: int) -> str:
        """What the person typed for `text[start:end]`."""
        if start >= end:
            return ""
        stop = self.origin[end] if end < len(self.text) else len(self.original)
        return self.original[self.origin[start]:stop]


def _substitute(text: str, origin: list[int], pattern: re.Pattern[str],
                replace: Callable[[re.Match[str]], str]) -> tuple[str, list[int]]:
    """`pattern` replaced in `text`, the origin of each new character kept: a replacement's
    characters all come from where its match began."""
    pieces: list[str] = []
    new_origin: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        pieces.append(text[last:start])
        new_origin += origin[last:start]
        replacement = replace(match)
        pieces.append(replacement)
        new_origin += [origin[start]] * len(replacement)
        last = end
    if not pieces:
        return text, origin
    pieces.append(text[last:])
    new_origin += origin[last:]
    return "".join(pieces), new_origin


def _per_character(text: str, origin: list[int],
                   convert: Callable[[str], str]) -> tuple[str, list[int]]:
    pieces: list[str] = []
    new_origin: list[int] = []
    for ch, where in zip(text, origin):
        converted = convert(ch)
        pieces.append(converted)
        new_origin += [where] * len(converted)
    return "".join(pieces), new_origin


def _nfkc(ch: str) -> str:
    return ch if ch == _MENTION_END else unicodedata.normalize("NFKC", ch)


def _without_emoji(text: str, origin: list[int]) -> tuple[str, list[int]]:
    import emoji   # its tables take 12 ms to load: only for a text that may hold one

    found = emoji.emoji_list(text)
    if not found:
        return text, origin
    pattern = re.compile("|".join(re.escape(one["emoji"]) for one in
                                  sorted(found, key=lambda one: -len(one["emoji"]))))
    return _substitute(text, origin, pattern, lambda match: " ")


def reading(text: str) -> Reading:
    """`text` as every recogniser reads it (see the module's docstring); pure, no I/O."""
    original = text
    origin = list(range(len(text)))
    if "<" in text:
        text, origin = _substitute(text, origin, _MARKUP, lambda match: " ")
    if "\u20e3" in text:
        text, origin = _substitute(text, origin, _KEYCAP, lambda match: match.group(1))
    # Full-width ASCII forms (，。！？＃１２) are most of what NFKC changes in Chinese text: a
    # table does them at once, one character for one; the rest, rarer, character by character.
    text = text.translate(_FULL_WIDTH)
    if not unicodedata.is_normalized("NFKC", text.replace(_MENTION_END, " ")):
        text, origin = _per_character(text, origin, _nfkc)
    simplified = _converter().convert(text)
    if len(simplified) == len(text):
        text = simplified
    else:  # a phrase changed length: convert character by character to keep the origins
        text, origin = _per_character(text, origin, _converter().convert)
    if _MAY_HOLD_EMOJI.search(text):
        text, origin = _without_emoji(text, origin)
    if "[" in text:
        text, origin = _substitute(text, origin, _EXPRESSION, lambda match: " ")
    text, origin = _substitute(text, origin, _SPOKEN,
                               lambda match: match.group().translate(_SPOKEN_VALUE))
    return Reading(text, original, tuple(origin))


def displayable(text: str) -> str:
    """The text as it may be shown back in a group: gateway emoji markup turned into the emoji it
    stands for (`<img class="emoji emoji1f62d" …/>` → 😭)."""
    if "<" not in text:
        return text

    def as_emoji(match: re.Match[str]) -> str:
        try:
            return chr(int(match.group(1), 16))
        except ValueError:
            return ""

    return _MARKUP.sub(as_emoji, text)


def is_placeholder_only(text: str) -> bool:
    """Whether a text says nothing in words: only media placeholders (`[图片]`), emoji,
    expressions, punctuation and spaces."""
    if "[" not in text and any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return False  # Chinese words and no placeholder: the common case, decided at once
    rest = _PLACEHOLDER.sub("", reading(text).text)
    return not any(ch.isalnum() for ch in rest)
