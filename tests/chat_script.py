"""Playing a conversation as `gridbot chat` plays it, for the tests of chat behaviour: the demo
network's rooms and members, message lines, and what the bot posted in answer."""

from __future__ import annotations

import io
import json
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.chat_jsonl import JsonLinesOutput, play
from bot.runtime import Bot
from conftest import REPO
from flows.config import load_config
from models.tables import Ticket, TicketEvent

GRID = "shibalong-1@chatroom"
BRANCH = "baiyi-b1@chatroom"
HEAD, DEPUTY, BRANCH_HEAD = "wxid_qiu_huanwu", "wxid_zhou_min", "wxid_wang_guoqiang"
ZHANG, LI = "wxid_zhang", "wxid_li"
QUOTE_LINE = "- - - - - - - - - - - - - - -"


async def chat(db, config, lines: list[dict]) -> list[dict]:
    """The lines played as `gridbot chat` plays them; the bot's posts as its JSON output."""
    out = io.StringIO()
    bot = Bot(config, db, JsonLinesOutput(out))
    bad = await play(bot, [json.dumps(line, ensure_ascii=False) for line in lines], io.StringIO(),
                     ZoneInfo(config.policy.timezone))
    assert bad == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def replies(posts: list[dict], message_id: str, room: str | None = None) -> list[str]:
    """The texts posted in answer to a message (in `room` only, when given)."""
    return [post["text"] for post in posts
            if post["reply_to"] == message_id and (room is None or post["room"] == room)]


def tickets(db) -> list[Ticket]:
    with db.session() as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)).all())


def kinds(db, ticket_id: int) -> list[str]:
    with db.session() as session:
        return [e.kind for e in session.exec(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))]


_minute = iter(range(10_000))


def say(id: str, sender: str, text: str, name: str | None = None, room: str = GRID,
        at: str | None = None) -> dict:
    """A message line; each a minute after the one before unless `at` says when."""
    if at is None:
        minute = next(_minute) % 600
        at = f"2026-11-24T{9 + minute // 60:02d}:{minute % 60:02d}:00+08:00"
    line = {"id": id, "room": room, "sender": sender, "text": text, "at": at}
    if name:
        line["name"] = name
    return line


def order(id: str, text: str = "下单 4栋2单元楼道灯不亮", sender: str = ZHANG) -> dict:
    return say(id, sender, text, "张阿姨" if sender == ZHANG else "李叔叔")


def quoting(notice: str, reply: str) -> str:
    """A reply as a WeChat gateway passes it: the quoted bot notice, a dashed line, the reply."""
    return f"「网格小助手：@张阿姨\u2005{notice}」\n{QUOTE_LINE}\n{reply}"


def shipped_config_with(tmp_path_factory, old: str, new: str):
    shipped = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert old in shipped
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(shipped.replace(old, new), encoding="utf-8")
    return load_config(path)
