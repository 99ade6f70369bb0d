"""The wechaty transport: the real `wechaty` client against a fake puppet-service gateway
(tests/fake_puppet.py) run as a subprocess, so the tests can kill it, stop it, and start it again.
Nothing sleeps a fixed time: every wait polls a condition with a deadline."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from bot.outbox import dead_letters, pending_count
from bot.runtime import Bot
from bot.transport import IncomingMessage, OutgoingPost
from bot.transports.webhook import Backoff
from bot.transports.wechaty_client import WechatyTransport
from flows.config import load_config
from flows.network import Network
from models.db import Database
from models.tables import InboundMessage, OutboundPost, Ticket

REPO = Path(__file__).resolve().parent.parent
ROOM = "shibalong-1@chatroom"
RESIDENT, RESIDENT_NAME = "wxid_zhang", "张阿姨"
RESIDENT_ALIAS = "4栋张阿姨"  # her name in the group
HEAD, HEAD_NAME = "wxid_qiu_huanwu", "邱煥武"
DEPUTY = "wxid_zhou_min"
BOT_ID = "wxid_gridbot"
QUOTE_LINE = "- - - - - - - - - - - - - - -"
WAIT = 20.0  # seconds, at most, for anything to happen


async def wait_for(condition, what: str, timeout: float = WAIT):
    """Poll `condition` every 50 ms until it returns something truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeGateway:
    """The fake puppet server as a subprocess, its control file and what it captured."""

    def __init__(self, folder: Path, heartbeat: float = 5.0) -> None:
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.control = folder / "control.jsonl"
        self.capture = folder / "sent.jsonl"
        self.heartbeat = heartbeat
        self.process: subprocess.Popen | None = None
        self.prefix = uuid.uuid4().hex[:8]  # message ids unique to this test

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "fake_puppet.py"), "--port", str(self.port),
             "--control", str(self.control), "--capture", str(self.capture), "--self-id", BOT_ID,
             "--heartbeat", str(self.heartbeat)],
            stdout=subprocess.DEVNULL)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def pause(self) -> None:  # alive for TCP, silent for gRPC: a hung gateway
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def control_line(self, **line) -> None:
        with self.control.open("a", encoding="utf-8") as control:
            control.write(json.dumps(line, ensure_ascii=False) + "\n")

    def say(self, talker: str, text: str, room: str | None = ROOM, **extra) -> str:
        """A member posts `text` (in `room`, or privately with room=None); returns its id."""
        message_id = f"{self.prefix}-{uuid.uuid4().hex[:8]}"
        extra.setdefault("timestamp", int(time.time()))
        self.control_line(op="message", id=message_id, talker=talker, text=text, room=room or "",
                          to="" if room else BOT_ID, **extra)
        return message_id

    def sent(self) -> list[dict]:
        if not self.capture.exists():
            return []
        return [json.loads(line) for line in self.capture.read_text(encoding="utf-8").splitlines()]

    def sent_containing(self, fragment: str) -> list[dict]:
        return [post for post in self.sent() if fragment in post["text"]]


@pytest.fixture
def gateway(tmp_path):
    fake = FakeGateway(tmp_path)
    fake.control_line(op="contact", id=RESIDENT, name=RESIDENT_NAME)
    fake.control_line(op="contact", id=HEAD, name=HEAD_NAME)
    fake.control_line(op="room", id=ROOM, topic="石坝垅小区第一微网格联户群", members=[RESIDENT, HEAD],
                      aliases={RESIDENT: RESIDENT_ALIAS})
    fake.start()
    yield fake
    if fake.process.poll() is None:
        fake.resume()
        fake.kill()


@pytest.fixture
async def start_bot(gateway, tmp_path):
    """Starts a Bot on the demo network with the wechaty transport; returns it once logged in."""
    runners = []

    async def start(heartbeat_timeout: float = 10.0) -> tuple[WechatyTransport, Bot]:
        await wait_for(gateway.listening, "the fake gateway to listen")
        config = load_config(REPO / "config.yaml")
        db = Database(f"sqlite:///{tmp_path}/x.sqlite3")
        transport = WechatyTransport(
            endpoint=gateway.endpoint, token="test-token",
            backoff=Backoff(timedelta(milliseconds=100), timedelta(milliseconds=400)),
            heartbeat_timeout=heartbeat_timeout, connect_timeout=1.0, send_timeout=5.0)
        bot = Bot(config, db, transport, Network(config))
        transport.attach(bot)
        runners.append((transport, asyncio.create_task(transport.run()), db))
        await wait_for(lambda: transport.health.connected, "the transport to log in")
        return transport, bot

    yield start
    for transport, runner, db in runners:
        transport.stop()
        await asyncio.wait_for(runner, 10)
        db.dispose()


@pytest.fixture
async def connected(start_bot):
    return await start_bot()


async def test_a_request_in_the_room_is_answered_in_the_room_mentioning_the_head(gateway, connected):
    transport, bot = connected
    # Ignored: a private message, a picture (kept, unattached), and the bot's own post echoed
    # by the gateway.
    gateway.say(RESIDENT, "下单 私聊里说的灯坏了", room=None)
    picture = gateway.say(RESIDENT, "下单 图片里的灯坏了", type=6)
    gateway.say(BOT_ID, "下单 机器人自己说的")
    sent_at = datetime(2026, 11, 24, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    message_id = gateway.say(RESIDENT, "下单 4号楼二单元4楼的灯不亮", timestamp=int(sent_at.timestamp()))

    [notice] = await wait_for(lambda: gateway.sent_containing("已受理 #1"), "the ticket notice")
    assert notice["conversation_id"] == ROOM
    assert HEAD in notice["mention_ids"]
    assert notice["text"].startswith(f"@{HEAD_NAME} 已受理 #1【报修】4号楼2单元4楼")
    assert "内容：4号楼二单元4楼的灯不亮" in notice["text"]
    # Messages are handed over in order, so the three before were read and ignored by now.
    assert len(gateway.sent()) == 1
    assert transport.health.last_event_at is not None
    assert transport.health.last_event_at.tzinfo is not None
    with bot.db.session() as session:
        # The bot's own post is kept, marked as such, and was never acted on.
        photo, own, stored = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
        # A picture whose content the gateway does not have: kept by its id, no words read.
        assert (photo.message_id, photo.text, photo.details["media"]) == (
            picture, "", [{"kind": "image", "media_id": picture}])
        assert (own.sender_id, own.skipped) == (BOT_ID, "own_post")
        assert (stored.message_id, stored.room, stored.sender_id, stored.sender_name, stored.quoted) == (
            message_id, ROOM, RESIDENT, RESIDENT_ALIAS, None)
        assert stored.sent_at == sent_at


RECALLED = 13  # the gateway's (TypeScript) MessageType.Recalled: its text is the recalled id


async def test_a_recalled_request_is_withdrawn(gateway, connected):
    transport, bot = connected
    request = gateway.say(RESIDENT, "下单 4号楼二单元4楼的灯不亮")
    await wait_for(lambda: gateway.sent_containing("已受理 #1"), "the notice of #1")
    gateway.say(RESIDENT, request, type=RECALLED)
    [withdrawn] = await wait_for(lambda: gateway.sent_containing("已撤回"), "the withdrawal")
    assert withdrawn["conversation_id"] == ROOM
    with bot.db.session() as session:
        assert session.get(Ticket, 1).status == "cancelled"


async def test_a_private_post_goes_to_its_recipient(gateway, connected):
    transport, bot = connected
    await transport.send(OutgoingPost(room=None, recipient=HEAD, text="【日报】石坝垅小区第一微网格"))
    [post] = await wait_for(gateway.sent, "the private post")
    assert (post["conversation_id"], post["text"], post["mention_ids"]) == (
        HEAD, "【日报】石坝垅小区第一微网格", [])


async def test_a_post_the_gateway_refuses_for_good_is_set_aside_and_the_next_goes(gateway,
                                                                                 connected):
    transport, bot = connected
    with bot.db.session() as session:
        for room, text in [("nowhere@chatroom", "无处可去"), (ROOM, "照常发出")]:
            session.add(OutboundPost(room=room, text=text, mentions=[],
                                     created_at=datetime.now(timezone.utc)))
    await bot.deliver()
    [post] = await wait_for(lambda: gateway.sent_containing("照常发出"), "the next post")
    assert post["conversation_id"] == ROOM
    [letter] = dead_letters(bot.db)
    assert letter.destination == "nowhere@chatroom" and "NOT_FOUND" in letter.reason


async def test_a_quoted_reply_claims_the_quoted_ticket(gateway, connected):
    gateway.say(RESIDENT, "下单 4号楼二单元4楼的灯不亮")
    await wait_for(lambda: gateway.sent_containing("已受理 #1"), "the notice of #1")
    gateway.say(RESIDENT, "下单 3栋门口垃圾没人清")
    await wait_for(lambda: gateway.sent_containing("已受理 #2"), "the notice of #2")

    # With two tickets waiting a bare 接单 would be ambiguous: only the quote says which.
    gateway.say(HEAD, f"「网格小助手：已受理 #1【报修】4号楼2单元4楼…」\n{QUOTE_LINE}\n接单")
    [claimed] = await wait_for(lambda: gateway.sent_containing("接单，正在处理"), "the claim notice")
    assert claimed["conversation_id"] == ROOM
    assert f"#1 已由 {HEAD_NAME} 接单" in claimed["text"]
    assert RESIDENT in claimed["mention_ids"]
    assert claimed["text"].startswith(f"@{RESIDENT_ALIAS} ")  # as the group shows her


async def test_a_mention_is_found_by_the_ids_the_gateway_passes(gateway, connected):
    gateway.say(RESIDENT, "下单 4号楼二单元4楼的灯不亮")
    await wait_for(lambda: gateway.sent_containing("已受理 #1"), "the notice of #1")
    gateway.say(HEAD, "接单")
    await wait_for(lambda: gateway.sent_containing("接单，正在处理"), "the claim notice")
    # A nickname the bot has never seen: the payload's mention ids say it is the deputy.
    gateway.say(HEAD, "转派 #1 @物业大姐\u2005她方便", mentions=[DEPUTY])
    [moved] = await wait_for(lambda: gateway.sent_containing("转派"), "the transfer notice")
    assert "周敏" in moved["text"]


async def test_replies_written_while_the_gateway_is_down_go_out_once_in_order_after_it_is_back(
        gateway, connected):
    transport, bot = connected
    gateway.say(RESIDENT, "下单 4号楼二单元4楼的灯不亮")
    await wait_for(lambda: gateway.sent_containing("已受理 #1"), "the notice of #1")

    gateway.kill()
    await wait_for(lambda: not transport.health.connected, "the transport to notice the loss")
    requests = ["下单 1栋电梯停了", "下单 2栋楼道灯不亮", "下单 3栋水管漏水"]
    for n, text in enumerate(requests):  # replies written while it is down (a scan, the API, …)
        await bot.receive(IncomingMessage(
            id=f"{gateway.prefix}-down-{n}", room=ROOM, sender_id=RESIDENT, sender_name=RESIDENT_NAME,
            text=text, at=datetime.now(timezone.utc)))
    assert pending_count(bot.db) == 3

    gateway.start()
    started = time.monotonic()
    await wait_for(lambda: transport.health.connected and transport.health.reconnects >= 1,
                   "the transport to reconnect")
    reconnect_time = time.monotonic() - started
    await wait_for(lambda: pending_count(bot.db) == 0, "the outbox to empty")

    texts = [post["text"] for post in gateway.sent()]
    numbers = [next(f"#{n}" for n in range(1, 5) if f"已受理 #{n}" in text) for text in texts]
    assert numbers == ["#1", "#2", "#3", "#4"]
    assert all(count == 1 for count in Counter(texts).values())
    assert transport.health.reconnects == 1

    # And the new connection reads messages again.
    gateway.say(HEAD, "接单 #2")
    await wait_for(lambda: gateway.sent_containing("#2 已由"), "the claim of #2")
    print(f"reconnected {reconnect_time:.2f} s after the gateway restarted; "
          f"{len(requests)} queued replies delivered once each")


async def test_a_silent_gateway_is_left_and_rejoined(gateway, start_bot):
    # Quiet for 0.5 s: the transport dings, and the gateway's dong keeps it connected; silent
    # for 1 s (the gateway hangs: TCP accepted, nothing answered): it reconnects.
    transport, bot = await start_bot(heartbeat_timeout=1.0)
    quiet_since = time.monotonic()
    await wait_for(lambda: time.monotonic() - quiet_since > 2.5, "2.5 s without heartbeats")
    assert transport.health.connected and transport.health.reconnects == 0

    gateway.pause()
    await wait_for(lambda: not transport.health.connected, "the transport to give up on the silence")
    gateway.resume()
    await wait_for(lambda: transport.health.connected and transport.health.reconnects >= 1,
                   "the transport to reconnect")
    gateway.say(RESIDENT, "下单 4号楼二单元4楼的灯不亮")
    await wait_for(lambda: gateway.sent_containing("已受理 #1"), "the notice after the silence")


def test_endpoint_and_token_are_required():
    with pytest.raises(ValueError, match="HOST:PORT"):
        WechatyTransport(endpoint="gateway.example.org", token="t")
    with pytest.raises(ValueError, match="token"):
        WechatyTransport(endpoint="127.0.0.1:8788", token="")


def test_importing_the_client_leaves_the_working_directory_alone(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in ("CACHE_DIR", "WECHATY_LOG")}
    result = subprocess.run([sys.executable, "-c", "import bot.transports.wechaty_client"],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


IMAGE, AUDIO, LOCATION = 6, 2, 8   # the gateway's (TypeScript) MessageType numbers


async def test_a_photo_and_a_voice_note_after_an_order_are_downloaded_and_join_its_ticket(
        gateway, connected):
    from test_attachments import PHOTO, VOICE
    from models.tables import Attachment

    transport, bot = connected
    gateway.say(RESIDENT, "下单 4号楼二单元4楼的灯不亮")
    await wait_for(lambda: gateway.sent_containing("已受理 #1"), "the notice of #1")
    gateway.say(RESIDENT, "", type=IMAGE,
                file={"base64": base64.b64encode(PHOTO).decode(), "name": "灯.png"})
    gateway.say(RESIDENT, "", type=AUDIO,
                file={"base64": base64.b64encode(VOICE).decode(), "name": "语音.amr"})
    gateway.say(RESIDENT, "石坝垅小区4栋", type=LOCATION)
    query = gateway.say(RESIDENT, "查询 #1")
    [answer] = await wait_for(lambda: gateway.sent_containing("附件："), "the query's answer")
    assert "附件：照片1 语音1 位置1" in answer["text"]
    with bot.db.session() as session:
        rows = session.exec(select(Attachment).order_by(Attachment.id)).all()
    assert [(a.kind, a.ticket_id, a.filename, a.size) for a in rows] == [
        ("image", 1, "灯.png", len(PHOTO)), ("voice", 1, "语音.amr", len(VOICE)),
        ("location", 1, None, None)]
    assert rows[0].sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert rows[2].details == {"label": "石坝垅小区4栋"}
    assert query
