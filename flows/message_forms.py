"""What a chat message's text may be besides the words a member typed (WeChat's forms).

Gateways hand the bot some of WeChat's messages as text:

- a quote-reply (引用) as plain text, `「name：quoted」` + a dashed line + the reply;
- a quote-reply as appmsg XML of type 57: `<appmsg><title>` the reply, `<refermsg><content>` the
  quoted message;
- a recall (撤回) as `<sysmsg type="revokemsg">`, `<newmsgid>` naming the message taken back;
- a pat (拍了拍, `<sysmsg type="pat">` or `"邱煥武" 拍了拍 "网格小助手"`) and group notices
  (`"邱煥武"邀请"刘大爷"加入了群聊`, `"张阿姨" 撤回了一条消息`): system messages, not words.

`read_form(text)` tells them apart, so every transport hands the commands the same shape: the
reply, what it quotes, the message recalled, or that it is a system notice. XML is parsed with the
standard library's parser after refusing any document type declaration (no entity of any kind can
then be defined, so no entity expansion attack); text that is not such XML is plain text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from enum import StrEnum

from flows.commands import split_quote

__all__ = ["Form", "MessageForm", "read_form"]

_XML_MAX = 64_000  # characters: anything longer is no WeChat system text


class Form(StrEnum):
    TEXT = "text"        # a member's words
    QUOTE = "quote"      # a reply quoting another message
    RECALL = "recall"    # the sender took a message back
    SYSTEM = "system"    # a notice of the chat service (pat, join, rename…)


@dataclass(frozen=True)
class MessageForm:
    """A message's text as read: its form, the member's own words (`text`: the reply of a quote,
    "" for a recall or system notice), the quoted text, the recalled message's id."""

    form: Form
    text: str
    quoted: str | None = None
    recalled_id: str | None = None


# Group notices WeChat writes as plain text; the names are in straight or curly quotes.
_NAME = r"[\"“「][^\"”」\n]{1,64}[\"”」]"
_SYSTEM_TEXTS = re.compile(
    rf"\A\s*(?:{_NAME}|你)\s*(?:拍了拍|邀请|撤回了一条消息|修改群名为|通过扫描|已成为新群主|将{_NAME}移出)"
    rf"|\A\s*{_NAME}\s*(?:加入了群聊|与群里其他人都不是朋友关系)"
    r"|\A\s*你已添加了.{1,64}，现在可以开始聊天了。?\s*\Z"
    r"|\A\s*以上是打招呼的内容\s*\Z",
    re.DOTALL)
_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_LOOKS_XML = re.compile(r"\A\s*(?:<\?xml[^>]*\?>\s*)?<(?:msg|sysmsg)\b")


def read_form(text: str) -> MessageForm:
    """`text` as the member meant it. Returns `MessageForm(Form.QUOTE, reply, quoted)` for both
    quote forms, `(Form.RECALL, "", recalled_id=…)` for a revokemsg, `(Form.SYSTEM, "")` for a pat
    or a group notice, else `(Form.TEXT, text)`. Never raises: XML that does not parse, or
    declares a document type, is read as plain text."""
    if _LOOKS_XML.match(text):
        found = _read_xml(text)
        if found is not None:
            return found
    if _SYSTEM_TEXTS.match(text):
        return MessageForm(Form.SYSTEM, "")
    quoted, reply = split_quote(text)
    if quoted is not None:
        return MessageForm(Form.QUOTE, reply, quoted)
    return MessageForm(Form.TEXT, text)


def _read_xml(text: str) -> MessageForm | None:
    if len(text) > _XML_MAX or _DECLARATION.search(text):
        return None
    # A declaration naming an encoding is refused by the parser for a str: it has none to apply.
    body = re.sub(r"\A\s*<\?xml[^>]*\?>", "", text)
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    if root.tag == "sysmsg":
        kind = root.get("type", "")
        if kind == "revokemsg":
            recalled = _text(root, "revokemsg/newmsgid") or _text(root, "revokemsg/msgid")
            if recalled:
                return MessageForm(Form.RECALL, "", recalled_id=recalled)
        return MessageForm(Form.SYSTEM, "")
    appmsg = root.find("appmsg")
    if root.tag != "msg" or appmsg is None:
        return None
    if _text(appmsg, "type") == "57":  # a quote-reply
        reply = _text(appmsg, "title") or ""
        quoted = _text(appmsg, "refermsg/content")
        if quoted is None:
            return MessageForm(Form.TEXT, reply)
        return MessageForm(Form.QUOTE, reply, quoted)
    return None  # a shared link, file or mini-program: the member's post as it came


def _text(element: ElementTree.Element, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None
