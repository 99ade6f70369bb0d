"""The WeCom transport against a local fake of WeCom on 127.0.0.1: the crypto checked against the
documentation's sample, encrypted callbacks in through the bot's real callback route (a `下单` with
a photo, the head's `接单` by @), answers through the message's response_url once and through the
group robot after, each robot paced to 20 a minute, a robot answering 45009 tried again later with
the order kept, and config errors named by `gridbot config check`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import select

from api.app import create_app
from api.tokens import create_token
from bot.outbox import PostPipeline, pending_count, post_values, write_posts
from bot.pacing import WINDOW
from bot.transports.wecom import WeComTransport, wecom_router
from bot.transports.wecom_crypto import CryptoError, WeComCrypto, signature
from flows.config import (MediaConfig, MediaLimits, TransportConfig, WeComAccount, WeComConfig,
                          WeComRoom)
from flows.lifecycle import Reply
from models.tables import Attachment, OutboundPost, ReplyRoute, Ticket, TicketEvent

from chat_script import BRANCH, GRID, HEAD, ZHANG
from config_checks import check_config, shipped_config
from platform_bot import PlatformBot
from conftest import START
from local_server import ServedApp, free_port

TOKEN = "gridbot-test-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"   # the documentation's sample key
GRID_ROBOT, BRANCH_ROBOT = "robot-key-grid-0001", "robot-key-branch-0002"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class FakeWeCom:
    """WeCom as the bot meets it, on 127.0.0.1: the group robots' send API (records each post
    with the test clock's time; answers errcode 45009 to the tries numbered in `limited`), the
    response_urls (one call each, as documented), and the encrypted media downloads."""

    def __init__(self, clock, limited: set[int] = frozenset()) -> None:
        self.clock = clock
        self.limited = set(limited)
        self.robot_tries = 0
        self.robot_posts: list[dict] = []       # {"key", "body", "at"}
        self.responses: dict[str, list[dict]] = {}
        self.lock = threading.Lock()
        crypto = WeComCrypto(TOKEN, AES_KEY)
        app = FastAPI()

        @app.post("/cgi-bin/webhook/send")
        async def robot(request: Request, key: str) -> JSONResponse:
            body = json.loads(await request.body())
            with self.lock:
                self.robot_tries += 1
                if self.robot_tries in self.limited:
                    return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
                self.robot_posts.append({"key": key, "body": body, "at": self.clock()})
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        @app.post("/cgi-bin/aibot/response")
        async def respond(request: Request, response_code: str) -> JSONResponse:
            calls = self.responses.setdefault(response_code, [])
            calls.append(json.loads(await request.body()))
            if len(calls) > 1:  # a response_url takes one call
                return JSONResponse({"errcode": 600039, "errmsg": "response_url used"})
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        @app.get("/media/{name}")
        async def media(name: str) -> Response:
            return Response(crypto.encrypt_media(PHOTO), media_type="application/octet-stream")

        self.served = ServedApp(app)

    @property
    def base(self) -> str:
        return self.served.base_url

    def response_url(self, code: str) -> str:
        return f"{self.base}/cgi-bin/aibot/response?response_code={code}"

    def __enter__(self) -> FakeWeCom:
        self.served.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.served.__exit__(*exc)


def wecom_config(config, robot_url: str, rooms=None):
    rooms = rooms or [WeComRoom(room=GRID, robot_key=GRID_ROBOT),
                      WeComRoom(room=BRANCH, robot_key=BRANCH_ROBOT)]
    transport = TransportConfig(kind="wecom", wecom=WeComConfig(
        robot_url=robot_url, accounts=[WeComAccount(id="shibalong", token=TOKEN,
                                                    encoding_aes_key=AES_KEY, rooms=rooms)]))
    return config.model_copy(update={"transport": transport})


class Platform(PlatformBot):
    """The bot with the WeCom transport, and the platform's side of its callback: messages are
    encrypted and signed as WeCom does and POSTed to `/wecom/shibalong/callback`."""

    def __init__(self, config, db, network, clock, fake: FakeWeCom) -> None:
        super().__init__(config, db, network, clock, WeComTransport(
            config.transport.wecom, clock=clock, media_limits=config.media.max_bytes), run=False)
        self.fake = fake
        app = create_app(self.bot, routers=[wecom_router(self.bot, self.transport, lambda: None)])
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                        base_url="http://bot")
        self.crypto = WeComCrypto(TOKEN, AES_KEY)

    def envelope(self, message: dict, nonce: str = "nonce1") -> tuple[dict, bytes]:
        encrypted = self.crypto.encrypt(json.dumps(message, ensure_ascii=False).encode("utf-8"))
        timestamp = "1764580000"
        query = {"msg_signature": signature(TOKEN, timestamp, nonce, encrypted),
                 "timestamp": timestamp, "nonce": nonce}
        return query, json.dumps({"encrypt": encrypted}).encode()

    async def say(self, sender: str, text: str = "", room: str | None = GRID,
                  msgtype: str = "text", deliver: bool = True, **payload) -> str:
        """A member's message to the AI bot (in `room`, or 1:1 when None); returns its msgid.
        The bot's answers are delivered before this returns (unless not `deliver`)."""
        self.count += 1
        msgid = f"msg-{self.count}"
        message = {"msgid": msgid, "aibotid": "AIBOT", "from": {"userid": sender},
                   "response_url": self.fake.response_url(f"r{self.count}"),
                   "msgtype": msgtype, **payload}
        if room is None:
            message["chattype"] = "single"
        else:
            message.update(chattype="group", chatid=room)
        if msgtype == "text":
            message["text"] = {"content": text}
        query, body = self.envelope(message)
        answer = await self.client.post(f"/wecom/shibalong/callback?{urlencode(query)}",
                                        content=body)
        assert answer.status_code == 200, answer.text
        if deliver:
            await self.bot.deliver()
        return msgid

    async def close(self) -> None:
        await self.client.aclose()
        await super().close()


@pytest.fixture
async def platform(config, network, db, clock, tmp_path):
    made = []

    def make(fake, rooms=None, image_limit: int = 10_000_000):
        kept = config.model_copy(update={"media": MediaConfig(
            folder=str(tmp_path / "media"), max_bytes=MediaLimits(image=image_limit))})
        made.append(Platform(wecom_config(kept, f"{fake.base}/cgi-bin/webhook/send", rooms),
                             db, network, clock, fake))
        return made[-1]

    yield make
    for one in made:
        await one.close()


# -- the crypto, against the documentation ---------------------------------------------------


def test_the_url_check_decrypts_the_documentations_sample():
    # 企业微信 加解密方案说明's sample (token QDG6eK, the corp id as receive id): the echostr's
    # plaintext is 1616140317555161061.
    crypto = WeComCrypto("QDG6eK", AES_KEY, "wx5823bf96d3bd56c7")
    echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    assert crypto.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589",
                             "263014780", echostr) == "1616140317555161061"
    with pytest.raises(CryptoError):
        crypto.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4", "1409659589",
                          "263014780", echostr)
    # The AI bot's receive id is empty: the sample, made for a corp id, is not for it.
    with pytest.raises(CryptoError):
        WeComCrypto("QDG6eK", AES_KEY).decrypt(echostr)


def test_a_reply_sealed_by_the_bot_opens_with_its_signature():
    crypto = WeComCrypto(TOKEN, AES_KEY)
    sealed = crypto.sealed_reply('{"msgtype":"text"}'.encode(), "1764580000", "n")
    assert sealed["msgsignature"] == signature(TOKEN, "1764580000", "n", sealed["encrypt"])
    assert crypto.open_callback(sealed["msgsignature"], "1764580000", "n",
                                sealed["encrypt"]) == b'{"msgtype":"text"}'
    with pytest.raises(CryptoError):
        WeComCrypto(TOKEN, "a" * 43).decrypt(sealed["encrypt"])


# -- the callback ----------------------------------------------------------------------------


async def test_the_url_check_and_a_forged_callback(platform, clock, db):
    with FakeWeCom(clock) as fake:
        bot = platform(fake)
        echo = bot.crypto.encrypt(b"echo-12345")
        query = {"msg_signature": signature(TOKEN, "1", "2", echo), "timestamp": "1",
                 "nonce": "2", "echostr": echo}
        answer = await bot.client.get(f"/wecom/shibalong/callback?{urlencode(query)}")
        assert (answer.status_code, answer.text) == (200, "echo-12345")
        query["msg_signature"] = "0" * 40
        assert (await bot.client.get(f"/wecom/shibalong/callback?{urlencode(query)}")
                ).status_code == 401
        # A message signed with another token: 401, nothing stored, nothing acted on.
        query, body = bot.envelope({"msgid": "x", "msgtype": "text", "chattype": "group",
                                    "chatid": GRID, "from": {"userid": ZHANG},
                                    "text": {"content": "下单 4栋灯不亮"}})
        query["msg_signature"] = signature("another", query["timestamp"], query["nonce"], "x")
        answer = await bot.client.post(f"/wecom/shibalong/callback?{urlencode(query)}",
                                       content=body)
        assert answer.status_code == 401 and bot.seen == []
        assert (await bot.client.get("/wecom/nobody/callback?msg_signature=a&timestamp=1&"
                                     "nonce=2&echostr=x")).status_code == 404


async def test_an_order_with_a_photo_then_the_heads_claim_by_at(platform, clock, db):
    with FakeWeCom(clock) as fake:
        bot = platform(fake)
        # 图文混排 in the group: the @ of the bot, the order, and a photo.
        order = await bot.say(ZHANG, room=GRID, msgtype="mixed", mixed={"msg_item": [
            {"msgtype": "text", "text": {"content": "@网格小助手 下单 4栋2单元楼道灯不亮"}},
            {"msgtype": "image", "image": {"url": f"{fake.base}/media/p1"}}]})
        message = bot.seen[-1]
        assert message.id == order and message.room == GRID and message.sender_id == ZHANG
        assert [m.kind for m in message.media] == ["image"]
        assert message.media[0].data == PHOTO and message.media[0].size == len(PHOTO)
        with db.session() as session:
            ticket = session.exec(select(Ticket)).one()
            kept = session.exec(select(Attachment)).all()
        assert ticket.status == "open" and "楼道灯" in ticket.text
        # The photo is the ticket's attachment, kept by its content.
        assert [(a.ticket_id, a.kind, a.size, a.sha256) for a in kept] == [
            (ticket.id, "image", len(PHOTO), hashlib.sha256(PHOTO).hexdigest())]
        # The answer went through the message's response_url, once, the head @-mentioned.
        assert list(fake.responses) == ["r1"] and len(fake.responses["r1"]) == 1
        first = fake.responses["r1"][0]
        assert first["msgtype"] == "markdown" and "已受理 #1" in first["markdown"]["content"]
        assert first["markdown"]["content"].startswith(f"<@{HEAD}> ")
        assert fake.robot_posts == [] and pending_count(db) == 0

        await bot.say(HEAD, "@网格小助手 接单", room=GRID)
        with db.session() as session:
            assert session.exec(select(Ticket)).one().status == "claimed"
        assert len(fake.responses["r2"]) == 1  # the head's answer, through their response_url
        assert "#1 已由" in fake.responses["r2"][0]["markdown"]["content"]

        # A further answer to the same message (its response_url used): through the robot,
        # the resident @-mentioned by member id (mentioned_list).
        pipeline = PostPipeline.of(bot.bot.config, bot.bot.network)
        with db.session() as session:
            write_posts(session, [post_values(Reply("#1 补充说明已收到", room=GRID,
                                                    mentions=(ZHANG,)), GRID, order, clock())],
                        pipeline)
            session.commit()
        await bot.bot.deliver()
        assert [(p["key"], p["body"]) for p in fake.robot_posts] == [
            (GRID_ROBOT, {"msgtype": "text", "text": {"content": "#1 补充说明已收到",
                                                      "mentioned_list": [ZHANG]}})]
        assert len(fake.responses["r1"]) == 1


async def test_photos_voice_and_files_in_a_one_to_one_chat_reach_the_dispatcher(platform, clock):
    with FakeWeCom(clock) as fake:
        bot = platform(fake)
        await bot.say(ZHANG, room=None, msgtype="image", image={"url": f"{fake.base}/media/p2"})
        await bot.say(ZHANG, room=None, msgtype="voice", voice={"content": "楼道灯还是不亮"})
        await bot.say(ZHANG, room=None, msgtype="file", file={"url": f"{fake.base}/media/f"})
        await bot.say(ZHANG, "这个还没修", room=GRID, quote={"msgtype": "text",
                                                         "text": {"content": "下单 楼道灯"}})
        image, voice, file, quoting = bot.seen
        assert image.room == f"single:{ZHANG}" and image.media[0].data == PHOTO
        assert voice.text == "楼道灯还是不亮" and [m.kind for m in voice.media] == ["voice"]
        assert file.media[0].kind == "file" and file.media[0].data == PHOTO
        assert quoting.quoted == "下单 楼道灯" and quoting.media == ()
        # A download that fails still hands the photo on, by its URL.
        await bot.say(ZHANG, room=None, msgtype="image", image={"url": "http://127.0.0.1:9/x"})
        assert bot.seen[-1].media[0].data is None
        assert bot.seen[-1].media[0].media_id == "http://127.0.0.1:9/x"


# -- pacing and retries ---------------------------------------------------------------------


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


async def test_each_robot_gets_twenty_a_minute_even_across_rooms(platform, config, network,
                                                                 db, clock):
    with FakeWeCom(clock) as fake:
        # One robot key for two rooms: they share its 20 a minute.
        bot = platform(fake, rooms=[WeComRoom(room=GRID, robot_key=GRID_ROBOT),
                                    WeComRoom(room=BRANCH, robot_key=GRID_ROBOT)])
        write(db, bot.bot.config, network, GRID, 25, "grid ")
        write(db, bot.bot.config, network, BRANCH, 20, "branch ")
        for _ in range(20):
            await bot.bot.deliver()
            clock.advance(seconds=7)
        times = [p["at"] for p in fake.robot_posts]
        assert len(times) == 45 and pending_count(db) == 0
        assert most_in_a_minute(times) == 20
        grid = [p["body"]["text"]["content"] for p in fake.robot_posts
                if p["body"]["text"]["content"].startswith("grid")]
        assert grid == [f"grid {n}" for n in range(25)]


async def test_a_robot_mentions_by_mobile_those_the_config_gives_one(config, network, db,
                                                                      clock):
    with FakeWeCom(clock) as fake:
        kept = wecom_config(config, f"{fake.base}/cgi-bin/webhook/send")
        kept.transport.wecom.member_mobiles[ZHANG] = "13800001111"
        bot = Platform(kept, db, network, clock, fake)
        try:
            pipeline = PostPipeline.of(bot.bot.config, network)
            with db.session() as session:
                write_posts(session, [post_values(Reply("#1 已超时未接单", room=GRID,
                                                        mentions=(HEAD, ZHANG)),
                                                  GRID, None, clock())], pipeline)
                session.commit()
            await bot.bot.deliver()
            [post] = fake.robot_posts
            assert post["body"]["text"] == {"content": "#1 已超时未接单", "mentioned_list": [HEAD],
                                            "mentioned_mobile_list": ["13800001111"]}
        finally:
            await bot.close()


def test_config_check_names_a_mobile_that_is_none(tmp_path):
    data = shipped_config()
    data["transport"] = {"kind": "wecom", "wecom": {
        "accounts": [{"id": "a", "token": "t", "encoding_aes_key": AES_KEY,
                      "rooms": [{"room": GRID, "robot_key": "k"}]}],
        "member_mobiles": {ZHANG: "138-0000", HEAD: "+8613800001111"}}}
    code, out = check_config(tmp_path, data)
    assert code != 0
    assert f"transport.wecom.member_mobiles ({ZHANG}): a mobile number expected" in out
    assert HEAD not in out.split("member_mobiles", 1)[1]


async def test_a_robot_at_its_frequency_limit_is_tried_again_in_order(platform, config, network,
                                                                     db, clock):
    with FakeWeCom(clock, limited={3, 4, 5}) as fake:
        bot = platform(fake)
        write(db, bot.bot.config, network, GRID, 8, "notice ")
        await bot.bot.deliver()
        assert [p["body"]["text"]["content"] for p in fake.robot_posts] == ["notice 0", "notice 1"]
        assert pending_count(db) == 6
        assert "45009" in bot.transport.health.accounts["shibalong"].last_error
        for _ in range(4):
            clock.advance(seconds=30)
            await bot.bot.deliver()
        assert [p["body"]["text"]["content"] for p in fake.robot_posts] == \
            [f"notice {n}" for n in range(8)]
        with db.session() as session:
            failures = session.exec(select(OutboundPost.failures).where(
                OutboundPost.text == "notice 2")).one()
        assert failures == 3 and pending_count(db) == 0


async def test_api_transport_and_readyz_show_each_account(platform, clock, db, network):
    with FakeWeCom(clock, limited={1}) as fake:
        bot = platform(fake)
        for link in bot.transport.accounts.values():
            link.health.clock = clock
        auth = {"Authorization": f"Bearer {create_token(db, network, network.root.id, 'ops', START)}"}
        write(db, bot.bot.config, bot.bot.network, GRID, 1, "x")
        await bot.bot.deliver()
        ready = (await bot.client.get("/readyz")).json()
        assert ready["accounts"] == {"shibalong": "ready"}  # one failure: not yet unready
        shown = (await bot.client.get("/api/transport", headers=auth)).json()
        assert shown["kind"] == "wecom" and shown["connected"] is False
        [account] = shown["accounts"]
        assert account["id"] == "shibalong" and account["ready"] is True
        assert "errcode 45009" in account["last_error"] and account["attempts_since_success"] == 1
        clock.advance(minutes=10)
        answer = await bot.client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["accounts"] == {"shibalong": "not ready"}
        assert "transport account shibalong" in answer.json()["detail"][0]
        assert GRID_ROBOT not in answer.text  # robot keys never shown
        await bot.bot.deliver()  # the robot takes it now: ready again at once
        assert (await bot.client.get("/readyz")).status_code == 200
        shown = (await bot.client.get("/api/transport", headers=auth)).json()
        assert shown["accounts"][0]["ready"] is True and shown["connected"] is True


# -- config ----------------------------------------------------------------------------------


def test_config_check_names_wecom_problems(tmp_path):
    data = shipped_config()
    data["transport"] = {"kind": "wecom", "posts_per_room_per_minute": 30, "wecom": {
        "accounts": [{"id": "a", "token": "t", "encoding_aes_key": "short",
                      "rooms": [{"room": GRID, "robot_key": "k"}]},
                     {"id": "a", "token": "t", "encoding_aes_key": AES_KEY,
                      "rooms": [{"room": GRID}]}]}}
    code, out = check_config(tmp_path, data)
    assert code != 0
    assert "transport.posts_per_room_per_minute: at most 20 with WeCom" in out
    assert "transport.wecom.accounts[0] (a).encoding_aes_key: 43 letters and digits" in out
    assert "transport.wecom.accounts[1] (a).id: 'a' is given twice" in out
    assert f"{GRID!r} is served by account 'a' already" in out
    data["transport"]["wecom"]["accounts"][1]["rooms"] = [{"room": "wrOgQhDgAAtypo"}]
    _, out = check_config(tmp_path, data)
    assert "transport.wecom.accounts[1] (a).rooms: 'wrOgQhDgAAtypo' is no group of the network" \
        in out
    data["transport"] = {"kind": "wecom"}
    _, out = check_config(tmp_path, data)
    assert "transport.wecom: required when transport.kind is wecom" in out


def test_gridbot_run_names_the_callbacks_and_no_key(config, db):
    from bot.service import startup_lines

    config = wecom_config(config, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
    lines = "\n".join(startup_lines(config, db, "127.0.0.1", 8000))
    assert "wecom: AI bot callbacks at http://127.0.0.1:8000/wecom/<account>/callback" in lines
    assert "shibalong (2 rooms)" in lines
    assert GRID_ROBOT not in lines and TOKEN not in lines and AES_KEY not in lines


async def test_a_message_from_a_group_not_in_the_network_is_logged_with_its_chat_id(
        platform, clock, caplog):
    with FakeWeCom(clock) as fake:
        bot = platform(fake)
        await bot.say(ZHANG, "@网格小助手 下单 楼道灯不亮", room="wrOgQhDgAAnew")
        assert bot.seen[-1].room == "wrOgQhDgAAnew"
        assert any("wrOgQhDgAAnew" in r.getMessage() and "not in the network" in r.getMessage()
                   for r in caplog.records)


async def test_two_accounts_each_serve_their_own_rooms(config, network, db, clock):
    other_token, other_key = "baiyi-token", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo"
    with FakeWeCom(clock, limited={1}) as fake:
        transport = TransportConfig(kind="wecom", wecom=WeComConfig(
            robot_url=f"{fake.base}/cgi-bin/webhook/send", accounts=[
                WeComAccount(id="shibalong", token=TOKEN, encoding_aes_key=AES_KEY,
                             rooms=[WeComRoom(room=GRID, robot_key=GRID_ROBOT)]),
                WeComAccount(id="baiyi", token=other_token, encoding_aes_key=other_key,
                             rooms=[WeComRoom(room=BRANCH, robot_key=BRANCH_ROBOT)])]))
        bot = Platform(config.model_copy(update={"transport": transport}), db, network, clock,
                       fake)
        try:
            # Each account's callback opens only with its own token and key.
            other = WeComCrypto(other_token, other_key)
            message = {"msgid": "b1", "msgtype": "text", "chattype": "group", "chatid": BRANCH,
                       "from": {"userid": "wxid_wang_guoqiang"}, "text": {"content": "在吗"}}
            encrypted = other.encrypt(json.dumps(message).encode())
            query = {"msg_signature": signature(other_token, "1", "n", encrypted),
                     "timestamp": "1", "nonce": "n"}
            body = json.dumps({"encrypt": encrypted}).encode()
            assert (await bot.client.post(f"/wecom/shibalong/callback?{urlencode(query)}",
                                          content=body)).status_code == 401
            assert (await bot.client.post(f"/wecom/baiyi/callback?{urlencode(query)}",
                                          content=body)).status_code == 200
            assert bot.seen[-1].room == BRANCH
            assert bot.transport.health.accounts["baiyi"].last_event_at == clock()
            # Each post goes through the robot of its room's account; the first robot call (to
            # the grid's robot) is refused: only that account's health shows it.
            write(db, bot.bot.config, network, GRID, 1, "grid ")
            write(db, bot.bot.config, network, BRANCH, 1, "branch ")
            await bot.bot.deliver()
            clock.advance(minutes=1)
            await bot.bot.deliver()
            assert sorted((p["key"], p["body"]["text"]["content"]) for p in fake.robot_posts) == \
                [(BRANCH_ROBOT, "branch 0"), (GRID_ROBOT, "grid 0")]
            accounts = bot.transport.health.accounts
            assert "45009" in accounts["shibalong"].last_error
            assert accounts["baiyi"].last_error is None
            assert bot.transport.pacing_key(GRID) != bot.transport.pacing_key(BRANCH)
        finally:
            await bot.close()


async def test_gridbot_run_takes_the_url_check_and_answers_a_message(config, db, clock):
    from bot.service import serve

    with FakeWeCom(clock) as fake:
        config = wecom_config(config, f"{fake.base}/cgi-bin/webhook/send")
        port, stop = free_port(), asyncio.Event()
        serving = asyncio.create_task(serve(config, db, "127.0.0.1", port, stop=stop))
        crypto = WeComCrypto(TOKEN, AES_KEY)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(500):
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.02)
                echo = crypto.encrypt(b"1616140317555161061")
                query = {"msg_signature": signature(TOKEN, "7", "8", echo), "timestamp": "7",
                         "nonce": "8", "echostr": echo}
                answer = await client.get(f"/wecom/shibalong/callback?{urlencode(query)}")
                assert answer.text == "1616140317555161061"
                message = {"msgid": "run-1", "msgtype": "text", "chattype": "group",
                           "chatid": GRID, "from": {"userid": ZHANG},
                           "response_url": fake.response_url("run"),
                           "text": {"content": "@网格小助手 下单 4栋2单元楼道灯不亮"}}
                encrypted = crypto.encrypt(json.dumps(message, ensure_ascii=False).encode())
                query = {"msg_signature": signature(TOKEN, "7", "9", encrypted),
                         "timestamp": "7", "nonce": "9"}
                answer = await client.post(f"/wecom/shibalong/callback?{urlencode(query)}",
                                           content=json.dumps({"encrypt": encrypted}))
                assert answer.status_code == 200
                for _ in range(500):  # the delivery loop answers through the response_url
                    if fake.responses.get("run"):
                        break
                    await asyncio.sleep(0.02)
                assert "已受理 #1" in fake.responses["run"][0]["markdown"]["content"]
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)


async def test_the_heads_photo_after_resolving_is_the_evidence(platform, clock, db):
    with FakeWeCom(clock) as fake:
        bot = platform(fake)
        await bot.say(ZHANG, "@网格小助手 下单 4栋2单元楼道灯不亮", room=GRID)
        await bot.say(HEAD, "@网格小助手 接单", room=GRID)
        clock.advance(minutes=20)
        await bot.say(HEAD, "@网格小助手 办结 #1 已更换灯泡", room=GRID)
        with db.session() as session:
            assert session.exec(select(Ticket)).one().status == "resolved"
        # The AI bot gets a photo only in a 1:1 chat: there, the head's photo within the
        # window after their 办结 is the resolution's evidence, and nothing is said.
        clock.advance(minutes=5)
        photo = await bot.say(HEAD, room=None, msgtype="image",
                              image={"url": f"{fake.base}/media/done"})
        assert bot.seen[-1].private and bot.seen[-1].room == f"single:{HEAD}"
        with db.session() as session:
            evidence = session.exec(select(TicketEvent).where(
                TicketEvent.kind == "evidence")).one()
            kept = session.exec(select(Attachment)).one()
        assert (evidence.ticket_id, evidence.actor_id, evidence.note,
                evidence.source_message_id) == (1, HEAD, "照片1", photo)
        assert (kept.ticket_id, kept.purpose, kept.size, kept.sha256) == (
            1, "evidence", len(PHOTO), hashlib.sha256(PHOTO).hexdigest())
        assert "r4" not in fake.responses and fake.robot_posts == []
        # Past the window (30 minutes) a photo is kept, joined to nothing.
        clock.advance(minutes=31)
        await bot.say(HEAD, room=None, msgtype="image", image={"url": f"{fake.base}/media/x"})
        with db.session() as session:
            assert len(session.exec(select(TicketEvent).where(
                TicketEvent.kind == "evidence")).all()) == 1
            assert [a.ticket_id for a in session.exec(select(Attachment).order_by(
                Attachment.id))] == [1, None]


async def test_a_photo_over_the_configured_limit_is_refused_politely(platform, clock, db):
    with FakeWeCom(clock) as fake:
        bot = platform(fake, image_limit=1000)
        await bot.say(ZHANG, room=None, msgtype="image", image={"url": f"{fake.base}/media/big"})
        [photo] = bot.seen[-1].media
        assert photo.data is None and photo.size > 1000
        with db.session() as session:
            assert session.exec(select(Attachment)).one().refused == "too_large"
        [refusal] = fake.responses["r1"]
        assert "超过了1KB的上限" in refusal["markdown"]["content"]


async def test_a_photo_over_the_size_limit_is_not_downloaded(platform, clock, monkeypatch):
    import bot.transports.wecom as wecom

    monkeypatch.setattr(wecom, "MEDIA_MAX_BYTES", 1000)
    with FakeWeCom(clock) as fake:
        bot = platform(fake)
        await bot.say(ZHANG, room=None, msgtype="image", image={"url": f"{fake.base}/media/big"})
        [photo] = bot.seen[-1].media
        assert photo.data is None and photo.media_id == f"{fake.base}/media/big"


async def test_a_response_url_wecom_refuses_gives_way_to_the_robot(platform, clock, db):
    with FakeWeCom(clock) as fake:
        bot = platform(fake)
        fake.responses["r1"] = [{}]  # as if already used: the fake answers an errcode
        await bot.say(ZHANG, "@网格小助手 下单 4栋2单元楼道灯不亮", room=GRID)
        assert len(fake.responses["r1"]) == 2 and pending_count(db) == 1
        clock.advance(seconds=30)
        await bot.bot.deliver()
        [post] = fake.robot_posts
        assert post["key"] == GRID_ROBOT and "已受理 #1" in post["body"]["text"]["content"]
        assert post["body"]["text"]["mentioned_list"] == [HEAD] and pending_count(db) == 0


async def test_a_response_url_outlives_a_restart_until_it_expires(platform, clock, db):
    with FakeWeCom(clock) as fake:
        before = platform(fake)
        # The bot stops after storing the message and its answer, before delivering it.
        await before.say(ZHANG, "@网格小助手 下单 4栋2单元楼道灯不亮", room=GRID, deliver=False)
        await before.say(ZHANG, "@网格小助手 下单 5栋门禁坏了", room=GRID, deliver=False)
        assert pending_count(db) == 2
        with db.session() as session:
            assert {r.message_id for r in session.exec(select(ReplyRoute))} == {"msg-1", "msg-2"}
        after = platform(fake)   # a new process: its transport reads the routes back
        after.count = before.count
        assert after.transport.replies.get("msg-1").url == fake.response_url("r1")
        await after.bot.deliver()
        assert "已受理 #1" in fake.responses["r1"][0]["markdown"]["content"]
        assert "已受理 #2" in fake.responses["r2"][0]["markdown"]["content"]
        assert fake.robot_posts == []
        with db.session() as session:
            assert session.exec(select(ReplyRoute)).all() == []  # used up: deleted

        # One whose hour ran out during the stop is not taken back: the robot carries it.
        await after.say(ZHANG, "@网格小助手 下单 6栋水管漏水", room=GRID, deliver=False)
        clock.advance(minutes=61)
        later = platform(fake)
        assert later.transport.replies.get("msg-3") is None and len(later.transport.replies) == 0
        with db.session() as session:
            assert session.exec(select(ReplyRoute)).all() == []
        await later.bot.deliver()
        assert "r3" not in fake.responses
        [post] = fake.robot_posts
        assert "已受理 #3" in post["body"]["text"]["content"]
