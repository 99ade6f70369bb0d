"""A WeCom AI bot over the long connection, against a local fake of WeCom's WebSocket gateway on
127.0.0.1 speaking the documented frames: the subscription with the bot id and secret (a wrong
secret refused and shown in the account's health), messages pushed as aibot_msg_callback (a
`下单`, a photo with its own aeskey, downloaded and decrypted), the bot's answers, a private post
and a post WeCom refuses sent as aibot_send_msg and answered by req_id, and a lost connection
opened again."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time

import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from sqlmodel import select
from websockets.asyncio.server import serve

from bot.outbox import PostPipeline, pending_count, post_values, write_posts
from bot.transports.wecom import WeComTransport
from bot.transports.wecom_crypto import encrypt_media
from flows.config import MediaConfig, TransportConfig, WeComAccount, WeComConfig, WeComRoom
from flows.lifecycle import Reply
from models.tables import Attachment, Ticket

from chat_script import GRID, HEAD, ZHANG
from config_checks import check_config, shipped_config
from platform_bot import PlatformBot
from local_server import ServedApp, free_port

BOT_ID, SECRET = "aib-test-bot-0001", "long-connection-secret-0001"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MEDIA_KEY = bytes(range(32))
AESKEY = base64.b64encode(MEDIA_KEY).decode().rstrip("=")   # sent without its padding


class FakeGateway:
    """WeCom's long-connection gateway as the bot meets it: answers the subscription (errcode 0
    for the right bot id and secret, else 40058 and the connection closed), pings, and each
    aibot_send_msg (recorded with the test clock's time; errcode 45009 to the sends numbered in
    `limited`); pushes members' messages; serves the encrypted media."""

    def __init__(self, clock, limited: set[int] = frozenset()) -> None:
        self.clock = clock
        self.limited = set(limited)
        self.port = free_port()
        self.subscriptions: list[dict] = []
        self.sent: list[dict] = []
        self.sends = 0
        self.pings = 0
        self.connection = None
        self.subscribed = asyncio.Event()
        self.pushed = 0
        app = FastAPI()

        @app.get("/media/{name}")
        async def media(name: str) -> Response:
            return Response(encrypt_media(MEDIA_KEY, PHOTO),
                            media_type="application/octet-stream")

        self.served = ServedApp(app)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _connection(self, ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            ask = frame["headers"]["req_id"]
            if frame["cmd"] == "aibot_subscribe":
                self.subscriptions.append(frame["body"])
                if frame["body"] != {"bot_id": BOT_ID, "secret": SECRET}:
                    await ws.send(json.dumps({"headers": {"req_id": ask}, "errcode": 40058,
                                              "errmsg": "invalid bot_id or secret"}))
                    await ws.close()
                    return
                await ws.send(json.dumps({"headers": {"req_id": ask}, "errcode": 0,
                                          "errmsg": "ok"}))
                self.connection = ws
                self.subscribed.set()
            elif frame["cmd"] == "ping":
                self.pings += 1
                await ws.send(json.dumps({"headers": {"req_id": ask}, "errcode": 0}))
            elif frame["cmd"] == "aibot_send_msg":
                self.sends += 1
                if self.sends in self.limited:
                    await ws.send(json.dumps({"headers": {"req_id": ask}, "errcode": 45009,
                                              "errmsg": "api freq out of limit"}))
                    continue
                self.sent.append({"body": frame["body"], "at": self.clock()})
                await ws.send(json.dumps({"headers": {"req_id": ask}, "errcode": 0,
                                          "errmsg": "ok"}))

    async def push(self, body: dict) -> None:
        """A member's message down the connection, framed as aibot_msg_callback."""
        await asyncio.wait_for(self.subscribed.wait(), 20)
        self.pushed += 1
        await self.connection.send(json.dumps({
            "cmd": "aibot_msg_callback", "headers": {"req_id": f"callback-{self.pushed}"},
            "body": body}, ensure_ascii=False))

    async def __aenter__(self) -> FakeGateway:
        self.served.__enter__()
        self.server = await serve(self._connection, "127.0.0.1", self.port).__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.served.__exit__(*exc)


class Platform(PlatformBot):
    """The bot with a WeCom account on the long connection to the fake gateway."""

    def __init__(self, config, db, network, clock, gateway: FakeGateway,
                 secret: str = SECRET) -> None:
        self.gateway = gateway
        transport = TransportConfig(kind="wecom", wecom=WeComConfig(
            ws_url=gateway.url, robot_url="http://127.0.0.1:9/cgi-bin/webhook/send",
            accounts=[WeComAccount(id="shibalong", bot_id=BOT_ID, secret=secret,
                                   rooms=[WeComRoom(room=GRID)])]))
        self.config = config.model_copy(update={"transport": transport})
        super().__init__(self.config, db, network, clock, WeComTransport(
            self.config.transport.wecom, clock=clock, media_limits=self.config.media.max_bytes),
            run=True)

    async def connected(self) -> None:
        """Once the bot's side has its subscription answered."""
        deadline = time.monotonic() + 20
        while (link := self.transport.accounts["shibalong"]).connection is None \
                or not link.connection.subscribed.is_set():
            assert time.monotonic() < deadline, "no long connection"
            await asyncio.sleep(0.02)

    async def say(self, sender: str, text: str = "", room: str | None = GRID,
                  msgtype: str = "text", **payload) -> str:
        """A member's message pushed down the connection; returns once the bot handled it and
        delivered its answers."""
        self.count += 1
        msgid = f"ws-{self.count}"
        body = {"msgid": msgid, "aibotid": BOT_ID, "from": {"userid": sender},
                "msgtype": msgtype, **payload}
        body.update({"chattype": "single"} if room is None else
                    {"chattype": "group", "chatid": room})
        if msgtype == "text":
            body["text"] = {"content": text}
        await self.connected()
        await self.gateway.push(body)
        deadline = time.monotonic() + 20
        while not any(message.id == msgid for message in self.seen):
            assert time.monotonic() < deadline, "the message was not handed on"
            await asyncio.sleep(0.02)
        await self.bot.deliver()
        return msgid


@pytest.fixture
async def platform(config, network, db, clock, tmp_path):
    made = []
    kept = config.model_copy(update={"media": MediaConfig(folder=str(tmp_path / "media"))})

    def make(gateway, **options):
        made.append(Platform(kept, db, network, clock, gateway, **options))
        return made[-1]

    yield make
    for one in made:
        await one.close()


async def test_an_order_in_and_the_answers_out_over_the_long_connection(platform, clock, db):
    async with FakeGateway(clock) as gateway:
        bot = platform(gateway)
        await bot.say(ZHANG, "@网格小助手 下单 4栋2单元楼道灯不亮")
        assert gateway.subscriptions == [{"bot_id": BOT_ID, "secret": SECRET}]
        with db.session() as session:
            ticket = session.exec(select(Ticket)).one()
        assert ticket.status == "open" and "楼道灯" in ticket.text
        # The answer into the group by its chat id, as markdown, the head @-mentioned.
        [answer] = gateway.sent
        assert answer["body"]["chatid"] == GRID and answer["body"]["msgtype"] == "markdown"
        content = answer["body"]["markdown"]["content"]
        assert content.startswith(f"<@{HEAD}> ") and "已受理 #1" in content
        await bot.say(HEAD, "@网格小助手 接单")
        with db.session() as session:
            assert session.exec(select(Ticket)).one().status == "claimed"
        assert "#1 已由" in gateway.sent[-1]["body"]["markdown"]["content"]

        # A private post (a digest to a head) goes to the member by userid: the long
        # connection can write first, where a callback bot cannot.
        pipeline = PostPipeline.of(bot.config, bot.bot.network)
        with db.session() as session:
            write_posts(session, [post_values(Reply("本周待办：#1", recipient=HEAD), GRID,
                                              None, clock())], pipeline)
            session.commit()
        await bot.bot.deliver()
        assert gateway.sent[-1]["body"]["chatid"] == HEAD
        assert gateway.sent[-1]["body"]["markdown"]["content"] == "本周待办：#1"
        assert pending_count(db) == 0
        assert bot.transport.health.accounts["shibalong"].last_error is None


async def test_a_photo_with_its_own_aeskey_is_decrypted_and_kept(platform, clock, db, tmp_path):
    async with FakeGateway(clock) as gateway:
        bot = platform(gateway)
        await bot.say(ZHANG, "@网格小助手 下单 4栋2单元楼道灯不亮")
        await bot.say(ZHANG, room=None, msgtype="image", image={
            "url": f"{gateway.served.base_url}/media/p1", "aeskey": AESKEY})
        [photo] = bot.seen[-1].media
        assert photo.data == PHOTO and bot.seen[-1].private
        with db.session() as session:
            kept = session.exec(select(Attachment)).one()
        # Sent 1:1 within minutes of her 下单: it joins her request.
        assert (kept.ticket_id, kept.purpose, kept.sha256) == (
            1, "request", hashlib.sha256(PHOTO).hexdigest())
        assert (tmp_path / "media" / kept.path).read_bytes() == PHOTO


async def test_a_post_wecom_refuses_is_tried_again_in_order(platform, clock, db, network):
    async with FakeGateway(clock, limited={1}) as gateway:
        bot = platform(gateway)
        await bot.connected()
        pipeline = PostPipeline.of(bot.config, network)
        with db.session() as session:
            write_posts(session, [post_values(Reply(f"notice {n}", room=GRID), GRID, None,
                                              clock()) for n in range(3)], pipeline)
            session.commit()
        await bot.bot.deliver()
        assert gateway.sent == [] and pending_count(db) == 3
        assert "errcode 45009" in bot.transport.health.accounts["shibalong"].last_error
        clock.advance(minutes=1)
        await bot.bot.deliver()
        assert [p["body"]["markdown"]["content"] for p in gateway.sent] == \
            ["notice 0", "notice 1", "notice 2"]


async def test_a_wrong_secret_shows_in_the_accounts_health(platform, clock):
    async with FakeGateway(clock) as gateway:
        bot = platform(gateway, secret="wrong-secret-0001")
        health = bot.transport.health.accounts["shibalong"]
        deadline = time.monotonic() + 20
        while health.attempts_since_success == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert "40058" in health.last_error and "wrong-secret-0001" not in health.last_error
        assert gateway.subscriptions[0]["secret"] == "wrong-secret-0001"
        assert not gateway.subscribed.is_set()


async def test_a_lost_connection_is_opened_again(platform, clock, db):
    async with FakeGateway(clock) as gateway:
        bot = platform(gateway)
        await bot.connected()
        link = bot.transport.accounts["shibalong"]
        await gateway.connection.close()
        deadline = time.monotonic() + 20
        while link.connection.subscribed.is_set():   # the bot sees the loss…
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await bot.connected()                         # … and connects again after 1 s
        assert len(gateway.subscriptions) == 2
        assert bot.transport.health.accounts["shibalong"].reconnects == 1
        await bot.say(ZHANG, "@网格小助手 下单 4栋2单元楼道灯不亮")
        assert "已受理 #1" in gateway.sent[-1]["body"]["markdown"]["content"]


def test_config_check_names_an_account_half_set(tmp_path):
    data = shipped_config()
    data["transport"] = {"kind": "wecom", "wecom": {"ws_url": "https://openws", "accounts": [
        {"id": "a", "bot_id": BOT_ID},
        {"id": "b", "bot_id": BOT_ID, "secret": SECRET, "token": "t",
         "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"},
        {"id": "c"},
        {"id": "d", "bot_id": BOT_ID, "secret": SECRET, "rooms": [{"room": GRID}]}]}}
    code, out = check_config(tmp_path, data)
    assert code != 0
    assert "transport.wecom.ws_url: a ws(s) URL expected" in out
    assert "transport.wecom.accounts[0] (a): bot_id and secret go together" in out
    assert "transport.wecom.accounts[1] (b): token and encoding_aes_key (callback) or bot_id " \
           "and secret (long connection), not both" in out
    assert "transport.wecom.accounts[2] (c): token and encoding_aes_key required" in out
    assert "accounts[3]" not in out


async def test_gridbot_run_keeps_the_long_connection_and_answers_a_message(config, db, clock,
                                                                          tmp_path):
    from bot.service import serve

    async with FakeGateway(clock) as gateway:
        transport = TransportConfig(kind="wecom", wecom=WeComConfig(
            ws_url=gateway.url, accounts=[WeComAccount(id="shibalong", bot_id=BOT_ID,
                                                       secret=SECRET,
                                                       rooms=[WeComRoom(room=GRID)])]))
        config = config.model_copy(update={"transport": transport, "media": MediaConfig(
            folder=str(tmp_path / "media"))})
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(config, db, "127.0.0.1", free_port(), stop=stop))
        try:
            await gateway.push({"msgid": "run-1", "msgtype": "text", "chattype": "group",
                                "chatid": GRID, "from": {"userid": ZHANG},
                                "text": {"content": "@网格小助手 下单 4栋2单元楼道灯不亮"}})
            for _ in range(500):   # the delivery loop, woken, answers up the connection
                if gateway.sent:
                    break
                await asyncio.sleep(0.02)
            assert "已受理 #1" in gateway.sent[0]["body"]["markdown"]["content"]
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)
