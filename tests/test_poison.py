"""Characters a database refuses (NUL, refused by PostgreSQL's text; a lone surrogate, not
UTF-8) are removed on the way in, on both backends alike, and `gridbot chat` never stops on one
line: a line it cannot handle is reported with its number and the rest goes on."""

from __future__ import annotations

import io
import json
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.chat_jsonl import JsonLinesOutput, play
from bot.dispatch import Dispatcher, storable
from bot.runtime import Bot
from models.tables import InboundMessage, Ticket

GRID = "shibalong-1@chatroom"
POISON = "\x00\ud800\udfff"


def test_storable_removes_only_what_a_backend_refuses():
    assert storable("下单\x00 4号楼\ud83d灯不亮") == "下单 4号楼灯不亮"
    assert storable("灯不亮 💡\t\n") == "灯不亮 💡\t\n"  # whole pairs and controls stay


async def test_a_message_with_nul_and_lone_surrogates_is_kept_and_acted_on(sim, db):
    [notice] = await sim.say(GRID, "wxid_resident_zhang\x00", f"下单 4号楼{POISON}楼道灯不亮",
                             name=f"张阿姨{POISON}", quoted=f"引用{POISON}",
                             message_id=f"poison{POISON}")
    assert notice.text.startswith("已受理 #1")
    with db.session() as session:
        [stored] = session.exec(select(InboundMessage)).all()
        [ticket] = session.exec(select(Ticket)).all()
    assert (stored.message_id, stored.sender_id, stored.sender_name) == (
        "poison", "wxid_resident_zhang", "张阿姨")
    assert (stored.text, stored.quoted, stored.handled_at is not None) == (
        "下单 4号楼楼道灯不亮", "引用", True)
    assert ticket.text == "4号楼楼道灯不亮"
    # The same message handed over again is the same stored one: acted on once.
    assert await sim.say(GRID, "wxid_resident_zhang\x00", f"下单 4号楼{POISON}楼道灯不亮",
                         message_id=f"poison{POISON}") == []


async def test_chat_reports_a_line_it_cannot_handle_and_goes_on(db, config, monkeypatch):
    storing = Dispatcher._store

    def disk_full_for_m2(self, prepared, *when):
        if any(message.id == "m2" for message, _ in prepared):
            raise OSError("database or disk is full")
        return storing(self, prepared, *when)

    monkeypatch.setattr(Dispatcher, "_store", disk_full_for_m2)
    lines = [{"id": "m1", "room": GRID, "sender": "wxid_a", "text": f"下单 1号楼{POISON}灯坏了",
              "at": "2026-11-24T09:00:00+08:00"},
             {"id": "m2", "room": GRID, "sender": "wxid_b", "text": "下单 2号楼灯坏了",
              "at": "2026-11-24T09:01:00+08:00"},
             {"id": "m3", "room": GRID, "sender": "wxid_c", "text": "下单 3号楼灯坏了",
              "at": "2026-11-24T09:02:00+08:00"}]
    out, err = io.StringIO(), io.StringIO()
    bad = await play(Bot(config, db, JsonLinesOutput(out)),
                     [json.dumps(line) for line in lines], err, ZoneInfo("Asia/Shanghai"))
    posts = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [post["reply_to"] for post in posts] == ["m1", "m3"]
    assert bad == 1 and err.getvalue().startswith("line 2: could not be handled (OSError)")
