"""Media carried by messages (附件): kept as content-addressed files, joined to the ticket of the
sender's 下单 / 补充 / 办结 within its window, listed by 查询, refused politely when too large,
kept once when redelivered; played through `gridbot chat` as a script would."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import sys
import zlib

import httpx
import pytest
import yaml
from sqlmodel import select

from api.app import create_app
from api.tokens import create_token
from bot.runtime import Bot
from bot.transports.webhook import SIGNATURE_HEADER, sign

from chat_script import GRID, HEAD, ZHANG, chat, kinds, replies, say
from flows import texts
from flows.config import MediaConfig, MediaLimits
from models.tables import Attachment, InboundMessage, TicketEvent

from conftest import REPO, START


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG picture of one colour (browsers draw it; its bytes differ by colour)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PHOTO = png()
VOICE = b"#!AMR\n" + bytes(range(256)) * 8   # an AMR voice note's header, then its frames


@pytest.fixture
def media_config(config, tmp_path):
    """The demo config with its media kept under the test's folder, and small limits."""
    return config.model_copy(update={"media": MediaConfig(
        folder=str(tmp_path / "media"), max_bytes=MediaLimits(image=50_000, voice=4_000))})


def photo_line(id: str, sender: str, content: bytes = PHOTO, at: str | None = None,
               kind: str = "image", **extra) -> dict:
    line = say(id, sender, "", at=at)
    del line["text"]   # a photo alone has no words
    line["media"] = [{"kind": kind, "data": base64.b64encode(content).decode(), **extra}]
    return line


def attachments(db) -> list[Attachment]:
    with db.session() as session:
        return list(session.exec(select(Attachment).order_by(Attachment.id)).all())


async def test_a_photo_and_a_voice_note_after_an_order_join_its_ticket_and_query_lists_them(
        db, media_config, tmp_path):
    posts = await chat(db, media_config, [
        say("o1", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-24T09:00:00+08:00"),
        photo_line("p1", ZHANG, at="2026-11-24T09:01:00+08:00"),
        photo_line("v1", ZHANG, VOICE, at="2026-11-24T09:02:00+08:00", kind="voice",
                   duration_s=4),
        say("q1", ZHANG, "查询 #1", "张阿姨", at="2026-11-24T09:03:00+08:00"),
    ])
    assert replies(posts, "p1") == [] and replies(posts, "v1") == []   # no noise in the group
    photo, voice = attachments(db)
    assert (photo.ticket_id, photo.kind, photo.purpose, photo.size, photo.mime) == (
        1, "image", "request", len(PHOTO), "image/png")
    assert photo.sha256 == hashlib.sha256(PHOTO).hexdigest()
    kept = tmp_path / "media" / photo.path
    assert kept.read_bytes() == PHOTO and kept.name == photo.sha256
    assert (voice.ticket_id, voice.kind, voice.mime, voice.details) == (
        1, "voice", "audio/amr", {"duration_s": 4})
    [answer] = replies(posts, "q1")
    assert "附件：照片1 语音1（共" in answer


async def test_a_photo_long_after_the_order_or_from_someone_else_is_kept_unattached(
        db, media_config):
    posts = await chat(db, media_config, [
        say("o1", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-24T09:00:00+08:00"),
        photo_line("late", ZHANG, at="2026-11-24T09:30:00+08:00"),
        photo_line("other", "wxid_li", png(rgb=(0, 0, 255)), at="2026-11-24T09:01:00+08:00"),
        say("q1", ZHANG, "查询 #1", "张阿姨", at="2026-11-24T09:31:00+08:00"),
    ])
    kept = attachments(db)
    assert [(a.message_id, a.ticket_id) for a in kept] == [("late", None), ("other", None)]
    assert all(a.path and a.sha256 for a in kept)         # never lost
    assert replies(posts, "late") == [] and replies(posts, "other") == []
    assert "附件" not in replies(posts, "q1")[0]


async def test_the_handlers_photo_after_resolving_is_the_evidence(db, media_config):
    posts = await chat(db, media_config, [
        say("o1", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-24T09:00:00+08:00"),
        say("c1", HEAD, "接单 #1", at="2026-11-24T09:05:00+08:00"),
        say("r1", HEAD, "办结 #1 已更换灯泡", at="2026-11-24T10:00:00+08:00"),
        photo_line("e1", HEAD, png(rgb=(0, 200, 0)), at="2026-11-24T10:02:00+08:00"),
        # the reporter's own photo now is no evidence (and her 下单's window has run out)
        photo_line("z1", ZHANG, png(rgb=(9, 9, 9)), at="2026-11-24T10:03:00+08:00"),
        say("q1", ZHANG, "查询 #1", "张阿姨", at="2026-11-24T10:04:00+08:00"),
    ])
    assert kinds(db, 1)[-1] == "evidence"
    with db.session() as session:
        evidence = session.exec(select(TicketEvent).where(TicketEvent.kind == "evidence")).one()
    assert (evidence.actor_id, evidence.note, evidence.source_message_id) == (HEAD, "照片1", "e1")
    by_message = {a.message_id: (a.ticket_id, a.purpose) for a in attachments(db)}
    assert by_message == {"e1": (1, "evidence"), "z1": (None, None)}
    [answer] = replies(posts, "q1")
    assert f"{texts.EVENT_NAMES['evidence']} 邱煥武：照片1" in answer
    assert "附件：照片1" in answer


async def test_a_detail_may_carry_media_and_a_photo_right_after_it_joins_too(db, media_config):
    order = say("o1", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-24T09:00:00+08:00")
    with_photo = say("d1", ZHANG, "补充 #1", "张阿姨", at="2026-11-24T11:00:00+08:00")
    with_photo["media"] = [{"kind": "image", "data": base64.b64encode(PHOTO).decode()}]
    posts = await chat(db, media_config, [
        order, with_photo,
        say("d2", ZHANG, "补充 #1 灯罩也掉了", "张阿姨", at="2026-11-24T12:00:00+08:00"),
        photo_line("p2", ZHANG, png(rgb=(1, 2, 3)), at="2026-11-24T12:01:00+08:00"),
    ])
    assert replies(posts, "d1") == [texts.DETAIL_ADDED.format(number=1, detail="照片1")]
    assert [(a.message_id, a.ticket_id, a.purpose) for a in attachments(db)] == [
        ("d1", 1, "detail"), ("p2", 1, "detail")]


async def test_a_file_over_the_limit_is_refused_politely_and_not_kept(db, media_config, tmp_path):
    big = png(200, 200) + bytes(60_000)
    posts = await chat(db, media_config, [
        say("o1", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-24T09:00:00+08:00"),
        photo_line("big", ZHANG, big, at="2026-11-24T09:01:00+08:00"),
    ])
    [refusal] = [post for post in posts if post["reply_to"] == "big"]
    assert refusal["text"] == texts.MEDIA_TOO_LARGE.format(kind="照片", size="61KB", limit="50KB")
    assert refusal["mentions"] == [ZHANG] and refusal["room"] == GRID
    [row] = attachments(db)
    assert (row.refused, row.path, row.ticket_id, row.size) == ("too_large", None, None, len(big))
    assert not any(path.is_file() for path in (tmp_path / "media").rglob("*"))


async def test_a_redelivered_media_message_is_kept_once(db, media_config, tmp_path):
    photo = photo_line("p1", ZHANG, at="2026-11-24T09:01:00+08:00")
    await chat(db, media_config, [
        say("o1", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-24T09:00:00+08:00"),
        photo, photo])
    await chat(db, media_config, [photo])    # again, from a gateway that restarted
    assert [(a.message_id, a.ticket_id) for a in attachments(db)] == [("p1", 1)]
    assert len([f for f in (tmp_path / "media").rglob("*") if f.is_file()]) == 1
    with db.session() as session:
        stored = session.exec(select(InboundMessage).where(InboundMessage.message_id == "p1")).one()
    assert stored.details["media"][0]["sha256"] == hashlib.sha256(PHOTO).hexdigest()


async def test_a_location_and_a_media_id_without_content_are_kept_as_sent(db, media_config):
    line = say("loc", ZHANG, "", at="2026-11-24T09:01:00+08:00")
    line["media"] = [{"kind": "location", "latitude": 28.15, "longitude": 113.63,
                      "label": "石坝垅小区4栋"},
                     {"kind": "video", "media_id": "platform-video-77", "size": 1_200_000}]
    await chat(db, media_config, [
        say("o1", ZHANG, "下单 4栋2单元楼道灯不亮", "张阿姨", at="2026-11-24T09:00:00+08:00"),
        line])
    location, video = attachments(db)
    assert (location.ticket_id, location.kind, location.details) == (
        1, "location", {"latitude": 28.15, "longitude": 113.63, "label": "石坝垅小区4栋"})
    assert (video.ticket_id, video.media_id, video.path, video.size) == (
        1, "platform-video-77", None, 1_200_000)


def test_gridbot_chat_reads_a_media_path_and_keeps_its_output_lines_shape(tmp_path):
    picture = tmp_path / "leak.png"
    picture.write_bytes(PHOTO)
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config.setdefault("media", {})["folder"] = str(tmp_path / "kept")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True),
                                          encoding="utf-8")
    lines = [
        {"id": "o1", "room": GRID, "sender": ZHANG, "name": "张阿姨",
         "text": "下单 4栋楼道漏水", "at": "2026-11-24T09:00:00+08:00"},
        {"id": "p1", "room": GRID, "sender": ZHANG, "at": "2026-11-24T09:01:00+08:00",
         "media": [{"kind": "image", "path": str(picture)}]},
        {"id": "p2", "room": GRID, "sender": ZHANG, "at": "2026-11-24T09:01:30+08:00",
         "media": [{"kind": "image", "path": str(tmp_path / "missing.png")}]},
        {"id": "q1", "room": GRID, "sender": ZHANG, "text": "查询 #1",
         "at": "2026-11-24T09:02:00+08:00"},
    ]
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--config", str(tmp_path / "config.yaml"),
         "--db", f"sqlite:///{tmp_path / 'chat.sqlite3'}"],
        input="\n".join(json.dumps(line, ensure_ascii=False) for line in lines), text=True,
        capture_output=True, cwd=tmp_path, timeout=120)
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(post) == {"room", "text", "mentions", "reply_to"} for post in out)
    assert "附件：照片1" in [post["text"] for post in out if post["reply_to"] == "q1"][0]
    assert "line 3: media: path: cannot read" in result.stderr
    digest = hashlib.sha256(PHOTO).hexdigest()
    assert (tmp_path / "kept" / digest[:2] / digest).read_bytes() == PHOTO


# ---- through the webhook and the API ----------------------------------------------------------

SECRET = "s3cret-for-media"
OTHER_GRID = "hehua-1@chatroom"


@pytest.fixture
async def served(db, media_config):
    """The bot behind its HTTP app, taking webhook messages; posts go to a list."""
    sent: list = []

    class Collect:
        async def send(self, post):
            sent.append(post)

    bot = Bot(media_config, db, Collect())
    app = create_app(bot, webhook_secret=SECRET)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")
    tokens = {node: create_token(db, bot.network, node, f"token of {node}", START)
              for node in ("shibalong-1", "baiyi", "hehua")}
    yield client, tokens, bot, sent
    await client.aclose()


async def webhook(client, payload: dict) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return await client.post("/webhook/messages", content=body, headers={
        SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"})


def hook_message(id: str, sender: str, text: str | None, at: str, room: str = GRID,
                 media: list | None = None) -> dict:
    line = {"id": id, "room": room, "sender": sender, "at": at}
    if text is not None:
        line["text"] = text
    if media is not None:
        line["media"] = media
    return line


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


async def test_the_webhook_takes_media_and_the_api_serves_them_within_scope(served, db):
    client, tokens, bot, sent = served
    assert (await webhook(client, hook_message("w1", ZHANG, "下单 4栋2单元楼道灯不亮",
                                               "2026-11-24T09:00:00+08:00"))).status_code == 200
    # the same photo handed over twice (a bridge retrying): kept once
    photo = hook_message("w2", ZHANG, None, "2026-11-24T09:01:00+08:00",
                         media=[{"kind": "image", "data": b64(PHOTO), "filename": "灯.png"}])
    assert (await webhook(client, photo)).json() == {"accepted": True, "id": "w2"}
    assert (await webhook(client, photo)).json() == {"accepted": True, "id": "w2"}
    voice = hook_message("w3", ZHANG, "", "2026-11-24T09:02:00+08:00",
                         media=[{"kind": "voice", "url": "https://bridge.example/media/77",
                                 "size": 3000, "duration_s": 3}])
    assert (await webhook(client, voice)).status_code == 200
    path = hook_message("w4", ZHANG, None, "2026-11-24T09:03:00+08:00",
                        media=[{"kind": "image", "path": "/etc/passwd"}])
    refused = await webhook(client, path)
    assert refused.status_code == 422 and "media.path" in refused.json()["detail"]

    listed = await client.get("/api/tickets/1/attachments", headers=bearer(tokens["shibalong-1"]))
    assert listed.status_code == 200
    image, sound = listed.json()
    assert (image["kind"], image["kind_name"], image["purpose"], image["size"], image["mime"]) == (
        "image", "照片", "request", len(PHOTO), "image/png")
    assert (sound["url"], sound["media_id"], sound["details"]) == (
        None, "https://bridge.example/media/77", {"duration_s": 3})
    for node in ("shibalong-1", "baiyi"):     # the grid and the community above it
        served_file = await client.get(image["url"], headers=bearer(tokens[node]))
        assert served_file.status_code == 200 and served_file.content == PHOTO
        assert served_file.headers["content-type"] == "image/png"
    # Another community's token: as if neither the ticket nor the attachment existed.
    assert (await client.get(image["url"], headers=bearer(tokens["hehua"]))).status_code == 404
    assert (await client.get("/api/tickets/1/attachments",
                             headers=bearer(tokens["hehua"]))).status_code == 404
    assert (await client.get(image["url"])).status_code == 401
    # Only a media id kept, or an id that does not exist: 404.
    assert (await client.get(f"/api/attachments/{sound['id']}",
                             headers=bearer(tokens["shibalong-1"]))).status_code == 404
    assert (await client.get("/api/attachments/999",
                             headers=bearer(tokens["shibalong-1"]))).status_code == 404


async def test_an_unattached_photo_is_not_served_and_a_too_large_one_is_refused_by_webhook(
        served, db):
    client, tokens, bot, sent = served
    stray = hook_message("s1", ZHANG, None, "2026-11-24T09:00:00+08:00",
                         media=[{"kind": "image", "data": b64(PHOTO)}])
    assert (await webhook(client, stray)).status_code == 200
    [row] = attachments(db)
    assert row.ticket_id is None and row.path
    assert (await client.get(f"/api/attachments/{row.id}",
                             headers=bearer(tokens["shibalong-1"]))).status_code == 404
    big = hook_message("s2", ZHANG, None, "2026-11-24T09:01:00+08:00",
                       media=[{"kind": "voice", "data": b64(VOICE * 3)}])
    assert (await webhook(client, big)).status_code == 200
    await bot.deliver()
    [refusal] = [post for post in sent if post.reply_to == "s2"]
    assert refusal.text == texts.MEDIA_TOO_LARGE.format(kind="语音", size="6KB", limit="4KB")
    assert not [post for post in sent if post.reply_to == "s1"]   # a stray photo: no noise
