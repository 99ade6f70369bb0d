"""The DingTalk transport against a local fake of DingTalk on 127.0.0.1: the official
`dingtalk-stream` client connects to the fake's Stream gateway (connections/open, then a
WebSocket) and gets robot messages framed as DingTalk frames them (a `下单`, the head's `接单` by
@, photos, voice and files); answers go through the message's sessionWebhook, other group posts
through the custom robot, signed (加签) and paced to 20 a minute per robot; a robot answering
410100 (throttled) is tried again later with the order kept; config errors are named. Pictures
are downloaded through the open API as documented (the app's access token, then
robot/messageFiles/download for a download URL) and kept as the ticket's attachment or the
resolution's evidence; one over the size limit is refused politely, one too slow to download does
not hold up the acknowledgement."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import select
from websockets.asyncio.server import serve

from api.app import create_app
from api.tokens import create_token
from bot.outbox import PostPipeline, pending_count, post_values, write_posts
from bot.pacing import WINDOW
from bot.runtime import Bot
from bot.transports.dingtalk import DingTalkTransport
from flows.config import (DingTalkAccount, DingTalkConfig, DingTalkRoom, MediaConfig, MediaLimits,
                          TransportConfig)
from flows.lifecycle import Reply
from models.tables import (Attachment, InboundMessage, OutboundPost, ReplyRoute, Ticket,
                           TicketEvent)

from chat_script import BRANCH, GRID, HEAD, ZHANG
from config_checks import check_config, shipped_config
from platform_bot import PlatformBot
from conftest import START
from local_server import ServedApp, free_port

CLIENT_ID, CLIENT_SECRET = "dingtestclientid", "client-secret-for-tests"
GRID_TOKEN, BRANCH_TOKEN = "grid-access-token-0001", "branch-access-token-0002"
SECRET = "SECfedcba9876543210grid"
BOT_DINGTALK_ID = "$:LWCP_v1:$robot"
TOPIC = "/v1.0/im/bot/messages/get"
ACCESS_TOKEN = "app-access-token-0001"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def documented_sign(secret: str, timestamp: str) -> str:
    # 自定义机器人安全设置 › 加签: HmacSHA256 of timestamp + "\n" + secret, Base64.
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FakeDingTalk:
    """DingTalk as the bot meets it: the Stream gateway (connections/open, then a WebSocket that
    pushes robot messages and reads their acks), the custom robots' send API (checks 加签, records
    each post with the test clock's time, answers 410100 to the tries numbered in `limited`), and
    the session webhooks."""

    def __init__(self, clock, limited: set[int] = frozenset()) -> None:
        self.clock = clock
        self.limited = set(limited)
        # Media members sent, by download code: (content, seconds the download takes).
        self.files: dict[str, tuple[bytes, float]] = {}
        self.token_calls = 0
        self.download_asks: list[dict] = []
        self.downloads: list[str] = []
        self.robot_tries = 0
        self.robot_posts: list[dict] = []
        self.bad_signs = 0
        self.session_posts: dict[str, list[dict]] = {}
        self.opened: list[dict] = []
        self.acks: list[dict] = []
        self.connection = None
        self.connected = asyncio.Event()
        self.ws_port = free_port()
        self.lock = threading.Lock()
        app = FastAPI()

        @app.post("/v1.0/gateway/connections/open")
        async def open_connection(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            self.opened.append(body)
            if body.get("clientSecret") != CLIENT_SECRET:
                return JSONResponse({"code": "InvalidAuthentication"}, status_code=401)
            return JSONResponse({"endpoint": f"ws://127.0.0.1:{self.ws_port}/", "ticket": "t-1"})

        @app.post("/v1.0/oauth2/accessToken")
        async def access_token(request: Request) -> JSONResponse:
            # 获取企业内部应用的accessToken: appKey and appSecret in, accessToken and expireIn out.
            body = json.loads(await request.body())
            self.token_calls += 1
            if (body.get("appKey"), body.get("appSecret")) != (CLIENT_ID, CLIENT_SECRET):
                return JSONResponse({"code": "invalidClientSecret"}, status_code=400)
            return JSONResponse({"accessToken": ACCESS_TOKEN, "expireIn": 7200})

        @app.post("/v1.0/robot/messageFiles/download")
        async def message_file(request: Request) -> JSONResponse:
            # 下载机器人接收消息的文件内容: the token in its header, robotCode and downloadCode.
            body = json.loads(await request.body())
            self.download_asks.append(body)
            if request.headers.get("x-acs-dingtalk-access-token") != ACCESS_TOKEN:
                return JSONResponse({"code": "InvalidAuthentication"}, status_code=401)
            if body.get("robotCode") != CLIENT_ID or body.get("downloadCode") not in self.files:
                return JSONResponse({"code": "invalidParameter"}, status_code=400)
            return JSONResponse({"downloadUrl": f"{self.base}/files/{body['downloadCode']}"})

        @app.get("/files/{code}")
        async def file_content(code: str) -> Response:
            content, seconds = self.files[code]
            if seconds:
                await asyncio.sleep(seconds)
            self.downloads.append(code)
            return Response(content, media_type="application/octet-stream")

        @app.post("/robot/send")
        async def robot(request: Request, access_token: str, timestamp: str,
                        sign: str) -> JSONResponse:
            body = json.loads(await request.body())
            with self.lock:
                if sign != documented_sign(SECRET, timestamp):
                    self.bad_signs += 1
                    return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
                self.robot_tries += 1
                if self.robot_tries in self.limited:
                    return JSONResponse({"errcode": 410100, "errmsg": "send too fast"})
                self.robot_posts.append({"token": access_token, "body": body,
                                         "at": self.clock()})
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        @app.post("/session/{code}")
        async def session(code: str, request: Request) -> JSONResponse:
            self.session_posts.setdefault(code, []).append(json.loads(await request.body()))
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        self.served = ServedApp(app)

    @property
    def base(self) -> str:
        return self.served.base_url

    async def _gateway(self, connection) -> None:
        self.connection = connection
        self.connected.set()
        async for raw in connection:
            self.acks.append(json.loads(raw))

    async def push(self, data: dict) -> None:
        """One robot message down the Stream connection, as DingTalk frames it; returns once the
        bot acknowledged it."""
        await asyncio.wait_for(self.connected.wait(), 20)
        frame_id = f"frame-{len(self.acks) + 1}-{data['msgId']}"
        await self.connection.send(json.dumps({
            "specVersion": "1.0", "type": "CALLBACK",
            "headers": {"contentType": "application/json", "messageId": frame_id,
                        "topic": TOPIC, "time": str(int(time.time() * 1000))},
            "data": json.dumps(data, ensure_ascii=False)}))
        deadline = time.monotonic() + 20
        while not any(ack["headers"].get("messageId") == frame_id for ack in self.acks):
            assert time.monotonic() < deadline, "no ack from the bot"
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> FakeDingTalk:
        self.served.__enter__()
        self.gateway = await serve(self._gateway, "127.0.0.1", self.ws_port).__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        self.gateway.close()
        await self.gateway.wait_closed()
        self.served.__exit__(*exc)


def dingtalk_config(config, robot_url: str, rooms=None):
    rooms = rooms or [DingTalkRoom(room=GRID, robot_token=GRID_TOKEN, robot_secret=SECRET),
                      DingTalkRoom(room=BRANCH, robot_token=BRANCH_TOKEN, robot_secret=SECRET)]
    base = robot_url.removesuffix("/robot/send")
    transport = TransportConfig(kind="dingtalk", dingtalk=DingTalkConfig(
        robot_url=robot_url, stream_url=f"{base}/v1.0/gateway/connections/open", api_url=base,
        accounts=[DingTalkAccount(id="liuyang", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                  rooms=rooms)]))
    return config.model_copy(update={"transport": transport})


class Platform(PlatformBot):
    """The bot with the DingTalk transport connected to the fake's Stream gateway."""

    def __init__(self, config, db, network, clock, fake: FakeDingTalk) -> None:
        super().__init__(config, db, network, clock, DingTalkTransport(
            config.transport.dingtalk, clock=clock, media_limits=config.media.max_bytes), run=True)
        self.fake, self.clock = fake, clock

    async def say(self, sender: str, text: str = "", room: str | None = GRID,
                  msgtype: str = "text", at_bot: bool = True, deliver: bool = True,
                  **payload) -> str:
        """A member's message to the robot (in `room` with the robot @-mentioned, or 1:1 when
        None); the bot's answers are delivered before this returns (unless not `deliver`)."""
        self.count += 1
        msgid = f"msg{self.count}"
        data = {"msgId": msgid, "msgtype": msgtype, "senderStaffId": sender,
                "senderId": f"$:id:{sender}", "senderNick": sender,
                "chatbotUserId": BOT_DINGTALK_ID, "robotCode": CLIENT_ID,
                "createAt": int(self.clock().timestamp() * 1000),
                "sessionWebhook": f"{self.fake.base}/session/s{self.count}",
                "sessionWebhookExpiredTime": int(self.clock().timestamp() * 1000) + 90 * 60_000,
                "conversationType": "1" if room is None else "2", **payload}
        if room is not None:
            data.update(conversationId=room, isInAtList=True,
                        atUsers=[{"dingtalkId": BOT_DINGTALK_ID}] if at_bot else [])
        if msgtype == "text":
            data["text"] = {"content": text}
        await self.fake.push(data)
        if deliver:
            await self.bot.deliver()
        return msgid


@pytest.fixture
async def platform(config, network, db, clock, tmp_path):
    made = []

    def make(fake, rooms=None, image_limit: int = 10_000_000):
        kept = config.model_copy(update={"media": MediaConfig(
            folder=str(tmp_path / "media"), max_bytes=MediaLimits(image=image_limit))})
        made.append(Platform(dingtalk_config(kept, f"{fake.base}/robot/send", rooms),
                             db, network, clock, fake))
        return made[-1]

    yield make
    for one in made:
        await one.close()


async def test_an_order_in_then_the_heads_claim_by_at(platform, clock, db):
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake)
        order = await bot.say(ZHANG, " 下单 4栋2单元楼道灯不亮")
        assert fake.opened[0]["clientId"] == CLIENT_ID
        assert fake.opened[0]["subscriptions"] == [{"type": "CALLBACK", "topic": TOPIC}]
        message = bot.seen[-1]
        assert (message.id, message.room, message.sender_id) == (order, GRID, ZHANG)
        assert message.mention_ids == ()  # the robot's own @ is left out
        with db.session() as session:
            ticket = session.exec(select(Ticket)).one()
        assert ticket.status == "open" and "楼道灯" in ticket.text
        # The answer through the message's sessionWebhook, the head @-mentioned by staff id.
        [answer] = fake.session_posts["s1"]
        assert answer["at"] == {"atUserIds": [HEAD], "isAtAll": False}
        assert answer["text"]["content"].startswith(f"@{HEAD} 已受理 #1")
        await bot.say(HEAD, "接单")
        with db.session() as session:
            assert session.exec(select(Ticket)).one().status == "claimed"
        assert "#1 已由" in fake.session_posts["s2"][0]["text"]["content"]
        assert fake.robot_posts == [] and pending_count(db) == 0


async def test_a_post_unasked_goes_through_the_signed_custom_robot(platform, clock, db, network):
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake)
        pipeline = PostPipeline.of(bot.bot.config, network)
        with db.session() as session:
            write_posts(session, [post_values(Reply("#1 已超时未接单，请尽快处理", room=GRID,
                                                    mentions=(HEAD,)), GRID, None, clock())],
                        pipeline)
            session.commit()
        await bot.bot.deliver()
        assert fake.bad_signs == 0
        assert [(p["token"], p["body"]) for p in fake.robot_posts] == [
            (GRID_TOKEN, {"msgtype": "text", "text": {"content": f"@{HEAD} #1 已超时未接单，请尽快处理"},
                          "at": {"atUserIds": [HEAD], "isAtAll": False}})]


async def test_photos_voice_and_files_reach_the_dispatcher_with_their_download_codes(platform,
                                                                                    clock):
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake)
        await bot.say(ZHANG, room=None, msgtype="picture",
                      content={"downloadCode": "dc-photo", "pictureDownloadCode": "pdc"})
        await bot.say(ZHANG, msgtype="richText", content={"richText": [
            {"text": "下单 楼道灯不亮"}, {"type": "picture", "downloadCode": "dc-rich"}]})
        await bot.say(ZHANG, room=None, msgtype="audio",
                      content={"downloadCode": "dc-voice", "duration": 4000,
                               "recognition": "楼道灯还是不亮"})
        await bot.say(ZHANG, room=None, msgtype="file",
                      content={"downloadCode": "dc-file", "fileName": "照片.zip"})
        picture, rich, audio, file = bot.seen
        assert picture.room == f"single:{ZHANG}" and picture.media[0].media_id == "dc-photo"
        assert rich.text == "下单 楼道灯不亮" and rich.media[0].media_id == "dc-rich"
        assert audio.text == "楼道灯还是不亮"
        assert (audio.media[0].kind, audio.media[0].duration_s) == ("voice", 4)
        assert (file.media[0].kind, file.media[0].filename) == ("file", "照片.zip")


def picture_order(code: str) -> dict:
    """A 下单 in the group with a picture (富文本: the text and the picture in one message, the
    robot @-mentioned), as DingTalk sends it."""
    return {"msgtype": "richText", "content": {"richText": [
        {"text": "下单 4栋2单元楼道灯不亮"},
        {"type": "picture", "downloadCode": code, "pictureDownloadCode": f"p-{code}"}]}}


async def test_an_order_with_a_picture_then_the_heads_claim_and_resolution_with_a_photo(
        platform, clock, db, tmp_path):
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake)
        fake.files["dc-order"] = (PHOTO, 0)
        fake.files["dc-done"] = (PHOTO[:1000] + b"done", 0)
        order = await bot.say(ZHANG, **picture_order("dc-order"))
        # The picture's content fetched as documented: the app's token, then its download URL.
        assert fake.token_calls == 1
        assert fake.download_asks == [{"downloadCode": "dc-order", "robotCode": CLIENT_ID}]
        [photo] = bot.seen[-1].media
        assert (photo.kind, photo.media_id, photo.data) == ("image", "dc-order", PHOTO)
        with db.session() as session:
            ticket = session.exec(select(Ticket)).one()
            [kept] = session.exec(select(Attachment)).all()
        assert ticket.status == "open" and "楼道灯" in ticket.text
        assert (kept.ticket_id, kept.message_id, kept.kind, kept.purpose, kept.size, kept.mime,
                kept.sha256, kept.media_id) == (
            ticket.id, order, "image", "request", len(PHOTO), "image/png",
            hashlib.sha256(PHOTO).hexdigest(), "dc-order")
        assert (tmp_path / "media" / kept.path).read_bytes() == PHOTO
        assert "已受理 #1" in fake.session_posts["s1"][0]["text"]["content"]

        await bot.say(HEAD, "接单")    # the robot @-mentioned in the group
        clock.advance(minutes=20)
        await bot.say(HEAD, "办结 #1 已更换灯泡")
        with db.session() as session:
            assert session.exec(select(Ticket)).one().status == "resolved"
        # The head's photo, sent to the robot 1:1 (a group shows it only what @-mentions it),
        # is the resolution's evidence; the token is used again, not fetched anew.
        clock.advance(minutes=2)
        await bot.say(HEAD, room=None, msgtype="picture",
                      content={"downloadCode": "dc-done", "pictureDownloadCode": "p"})
        assert bot.seen[-1].private and bot.seen[-1].room == f"single:{HEAD}"
        assert fake.token_calls == 1 and fake.downloads == ["dc-order", "dc-done"]
        with db.session() as session:
            evidence = session.exec(select(TicketEvent).where(
                TicketEvent.kind == "evidence")).one()
            done = session.exec(select(Attachment).where(Attachment.message_id == "msg4")).one()
        assert (evidence.ticket_id, evidence.actor_id, evidence.note,
                evidence.source_message_id) == (ticket.id, HEAD, "照片1", "msg4")
        assert (done.ticket_id, done.purpose, done.size, done.sha256) == (
            ticket.id, "evidence", 1004, hashlib.sha256(PHOTO[:1000] + b"done").hexdigest())
        assert "s4" not in fake.session_posts    # a photo is no command: nothing said
        assert pending_count(db) == 0


async def test_a_picture_over_the_size_limit_is_refused_politely_and_not_read(platform, clock,
                                                                               db):
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake, image_limit=1000)
        fake.files["dc-big"] = (PHOTO, 0)
        await bot.say(ZHANG, **picture_order("dc-big"))
        [photo] = bot.seen[-1].media
        assert photo.data is None and photo.size == len(PHOTO) and photo.media_id == "dc-big"
        with db.session() as session:
            assert session.exec(select(Ticket)).one().status == "open"
            [kept] = session.exec(select(Attachment)).all()
        assert (kept.refused, kept.path, kept.ticket_id) == ("too_large", None, None)
        said = [post["text"]["content"] for post in fake.session_posts["s1"]]
        assert any("超过了1KB的上限" in text and "未能保存" in text for text in said), said
        # The same in a 1:1 chat: refused there, through that chat's session webhook.
        await bot.say(ZHANG, room=None, msgtype="picture", content={"downloadCode": "dc-big"})
        [refusal] = fake.session_posts["s2"]
        assert "超过了1KB的上限" in refusal["text"]["content"]


async def test_a_slow_download_does_not_hold_up_the_acknowledgement(platform, clock, db,
                                                                    monkeypatch):
    import bot.transports.dingtalk as dingtalk

    monkeypatch.setattr(dingtalk, "MEDIA_TIMEOUT", 0.5)
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake)
        fake.files["dc-slow"] = (PHOTO, 3.0)
        started = time.monotonic()
        await bot.say(ZHANG, **picture_order("dc-slow"))   # returns once acknowledged
        assert time.monotonic() - started < 2.5
        [photo] = bot.seen[-1].media
        assert photo.data is None and photo.media_id == "dc-slow"
        with db.session() as session:
            assert session.exec(select(Ticket)).one().status == "open"
            [kept] = session.exec(select(Attachment)).all()
            stored = session.exec(select(InboundMessage)).one()
        # Kept by its download code, joined to the ticket all the same.
        assert (kept.ticket_id, kept.media_id, kept.path) == (1, "dc-slow", None)
        assert stored.details["media"][0]["media_id"] == "dc-slow"


async def test_a_session_webhook_outlives_a_restart_until_it_expires(platform, clock, db,
                                                                      network):
    async with FakeDingTalk(clock) as fake:
        before = platform(fake)
        # The bot stops after storing the message and its answer, before delivering it.
        order = await before.say(ZHANG, " 下单 4栋2单元楼道灯不亮", deliver=False)
        assert pending_count(db) == 1
        after = platform(fake)   # a new process: its transport reads the route back
        await after.bot.deliver()
        [answer] = fake.session_posts["s1"]
        assert "已受理 #1" in answer["text"]["content"] and fake.robot_posts == []
        with db.session() as session:   # usable as often as needed: kept until it expires
            [route] = session.exec(select(ReplyRoute)).all()
        assert (route.message_id, route.platform, route.once, route.room) == (
            order, "dingtalk", False, GRID)

        clock.advance(minutes=91)   # its sessionWebhookExpiredTime passed during a stop
        later = platform(fake)
        assert later.transport.replies.get(order) is None
        with db.session() as session:
            assert session.exec(select(ReplyRoute)).all() == []
            write_posts(session, [post_values(Reply("#1 补充说明已收到", room=GRID), GRID, order,
                                              clock())], PostPipeline.of(later.bot.config, network))
            session.commit()
        await later.bot.deliver()
        assert len(fake.session_posts["s1"]) == 1
        [post] = fake.robot_posts
        assert post["body"]["text"]["content"] == "#1 补充说明已收到"


def write(db, config, network, room: str, count: int, label: str) -> None:
    pipeline = PostPipeline.of(config, network)
    with db.session() as session:
        write_posts(session, [post_values(Reply(f"{label}{n}", room=room), room, None, START)
                              for n in range(count)], pipeline)
        session.commit()


def most_in_a_minute(times) -> int:
    times = sorted(times)
    return max((sum(1 for t in times if start <= t < start + WINDOW) for start in times),
               default=0)


async def test_each_custom_robot_gets_twenty_a_minute(platform, network, db, clock):
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake)
        write(db, bot.bot.config, network, GRID, 30, "grid ")
        write(db, bot.bot.config, network, BRANCH, 5, "branch ")
        for _ in range(20):
            await bot.bot.deliver()
            clock.advance(seconds=7)
        grid = [p for p in fake.robot_posts if p["token"] == GRID_TOKEN]
        assert [p["body"]["text"]["content"] for p in grid] == [f"grid {n}" for n in range(30)]
        assert most_in_a_minute([p["at"] for p in grid]) == 20
        # The other robot was not held back by the first one's backlog.
        branch = [p["at"] for p in fake.robot_posts if p["token"] == BRANCH_TOKEN]
        assert len(branch) == 5 and max(branch) == START
        assert pending_count(db) == 0


async def test_a_throttled_robot_is_tried_again_in_order(platform, network, db, clock):
    async with FakeDingTalk(clock, limited={2, 3}) as fake:
        bot = platform(fake)
        write(db, bot.bot.config, network, GRID, 6, "notice ")
        await bot.bot.deliver()
        assert [p["body"]["text"]["content"] for p in fake.robot_posts] == ["notice 0"]
        assert "410100" in bot.transport.health.accounts["liuyang"].last_error
        for _ in range(3):
            clock.advance(minutes=1)
            await bot.bot.deliver()
        assert [p["body"]["text"]["content"] for p in fake.robot_posts] == \
            [f"notice {n}" for n in range(6)]
        with db.session() as session:
            assert session.exec(select(OutboundPost.failures).where(
                OutboundPost.text == "notice 1")).one() == 2


async def test_a_wrong_client_secret_shows_in_the_accounts_health(platform, config, network, db,
                                                                  clock):
    async with FakeDingTalk(clock) as fake:
        bot = platform(fake)
        await asyncio.wait_for(fake.connected.wait(), 20)
        assert bot.transport.health.accounts["liuyang"].last_success_at is not None
        bad = dingtalk_config(config, f"{fake.base}/robot/send")
        account = bad.transport.dingtalk.accounts[0].model_copy(
            update={"id": "hehua", "client_secret": "wrong", "rooms": []})
        transport = DingTalkTransport(bad.transport.dingtalk.model_copy(
            update={"accounts": [account]}), clock=clock)
        app = create_app(Bot(bad, db, transport, network, clock=clock))
        task = asyncio.create_task(transport.run())
        try:
            deadline = time.monotonic() + 20
            while transport.health.accounts["hehua"].attempts_since_success == 0:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            token = create_token(db, network, network.root.id, "ops", START)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://bot") as client:
                shown = (await client.get("/api/transport",
                                          headers={"Authorization": f"Bearer {token}"})).json()
            [hehua] = shown["accounts"]
            assert hehua["id"] == "hehua" and "401" in hehua["last_error"]
            assert "wrong" not in json.dumps(shown)
        finally:
            task.cancel()
            await transport.close()


def test_config_check_names_dingtalk_problems(tmp_path):
    data = shipped_config()
    data["transport"] = {"kind": "dingtalk", "posts_per_room_per_minute": 25, "dingtalk": {
        "accounts": [{"id": "a", "client_id": "c", "client_secret": "s",
                      "rooms": [{"room": GRID, "robot_token": "t"},
                                {"room": BRANCH, "robot_token": "t", "robot_secret": "nosec"},
                                {"room": "cidTypo", "robot_token": "t",
                                 "robot_secret": "SECx"}]}]}}
    code, out = check_config(tmp_path, data)
    assert code != 0
    assert "transport.posts_per_room_per_minute: at most 20 with DingTalk" in out
    assert (f"transport.dingtalk.accounts[0] (a).rooms ({GRID}).robot_secret: required with "
            f"robot_token") in out
    assert "robot_secret: a DingTalk 加签 secret starts with SEC" in out
    assert "'cidTypo' is no group of the network" in out


async def test_gridbot_run_keeps_the_stream_and_answers_a_message(config, db, clock):
    from bot.service import serve

    async with FakeDingTalk(clock) as fake:
        config = dingtalk_config(config, f"{fake.base}/robot/send")
        port, stop = free_port(), asyncio.Event()
        serving = asyncio.create_task(serve(config, db, "127.0.0.1", port, stop=stop))
        try:
            now = int(time.time() * 1000)
            await fake.push({"msgId": "run-1", "msgtype": "text", "senderStaffId": ZHANG,
                             "senderNick": "张阿姨", "conversationType": "2",
                             "conversationId": GRID, "chatbotUserId": BOT_DINGTALK_ID,
                             "atUsers": [{"dingtalkId": BOT_DINGTALK_ID}], "createAt": now,
                             "sessionWebhook": f"{fake.base}/session/run",
                             "sessionWebhookExpiredTime": now + 3_600_000,
                             "text": {"content": " 下单 4栋2单元楼道灯不亮"}})
            for _ in range(500):  # the delivery loop answers through the sessionWebhook
                if fake.session_posts.get("run"):
                    break
                await asyncio.sleep(0.02)
            assert "已受理 #1" in fake.session_posts["run"][0]["text"]["content"]
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)
