"""Request size limits: a body over `api.max_request_bytes` is refused 413 while it streams in,
before it is parsed or its signature checked, on the webhook and every API body; what is stored
is cut (the webhook's `quoted`) or refused 422 (API notes over policy.max_message_length)."""

from __future__ import annotations

import json
import tracemalloc

import httpx
import pytest
from sqlmodel import select

from api.app import create_app
from bot.runtime import Bot
from bot.transports.webhook import SIGNATURE_HEADER, WebhookTransport, sign
from flows.config import ConfigError, parse_config
from models.tables import InboundMessage, TicketEvent

from local_server import ServedApp
from test_api import bearer, world  # noqa: F401 - the fixture
from test_config import small

SECRET = "s3cret"
GRID, RESIDENT = "shibalong-1@chatroom", "wxid_resident_zhang"
CHUNK = 64 * 1024


class Streamed:
    """A request body of `total` bytes handed over in chunks, counting how many were taken."""

    def __init__(self, total: int) -> None:
        self.total, self.taken = total, 0

    async def __aiter__(self):
        while self.taken < self.total:
            self.taken += CHUNK
            yield b"x" * CHUNK


@pytest.fixture
async def webhook(config, network, db, clock):
    transport = WebhookTransport("http://127.0.0.1:9/never", SECRET)
    bot = Bot(config, db, transport, network, clock=clock)
    app = create_app(bot, webhook_secret=SECRET)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")
    yield bot, app, client
    await client.aclose()
    await transport.close()


def signed(payload: dict) -> tuple[bytes, dict]:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return body, {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}


async def test_an_unsigned_huge_webhook_body_is_413_after_reading_little_more_than_the_limit(
        webhook, db):
    bot, app, client = webhook
    limit = bot.config.api.max_request_bytes
    body = Streamed(500 * 1024 * 1024)   # 500 MB, no Content-Length: counted as it comes
    response = await client.post("/webhook/messages", content=body)
    assert response.status_code == 413 and str(limit) in response.json()["detail"]
    assert body.taken <= limit + 2 * CHUNK
    # Declared too large: refused before a byte of it is read.
    declared = await client.post("/webhook/messages", content=b"{}",
                                 headers={"Content-Length": str(500 * 1024 * 1024)})
    assert declared.status_code == 413
    with db.session() as session:
        assert session.exec(select(InboundMessage)).all() == []


async def test_a_huge_body_to_a_real_server_is_refused_while_streaming(webhook):
    bot, app, _ = webhook
    limit = bot.config.api.max_request_bytes
    body = Streamed(50 * 1024 * 1024)
    with ServedApp(app) as base:
        async with httpx.AsyncClient() as client:
            tracemalloc.start()
            try:
                response = await client.post(f"{base}/webhook/messages", content=body)
                status = response.status_code
            except httpx.HTTPError:
                status = None   # the server may close the connection on the rest of the body
            finally:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
    assert status in (413, None)
    # uvicorn drops what comes after the answer; nothing in the process held the 50 MB.
    assert peak < 10 * limit


async def test_every_api_body_has_the_same_limit(world):  # noqa: F811
    app, client, tokens = world
    headers = {**bearer(tokens["shibalong-1"]), "Content-Type": "application/json"}
    huge = json.dumps({"note": "好" * 1_000_006}).encode("utf-8")
    for path in ("/api/tickets/1/progress", "/api/tickets/1/resolve", "/api/tickets/1/rate",
                 "/api/tickets/2/transfer", "/login", "/tickets/2/claim"):
        response = await client.post(path, content=huge, headers=headers)
        assert response.status_code == 413, path


async def test_api_notes_longer_than_a_message_are_422_and_nul_is_dropped(world, sim, db):  # noqa: F811
    app, client, tokens = world
    limit = sim.bot.config.policy.max_message_length
    auth = bearer(tokens["shibalong-1"])
    assert (await client.post("/api/tickets/2/claim", headers=auth)).status_code == 200
    long = await client.post("/api/tickets/2/progress", json={"note": "灯" * (limit + 1)},
                             headers=auth)
    assert long.status_code == 422 and "policy.max_message_length" in long.json()["detail"]
    nul = await client.post("/api/tickets/2/progress", json={"note": "换\x00灯泡"}, headers=auth)
    assert nul.status_code == 200
    rated = await client.post("/api/tickets/2/rate",
                              json={"rating": "满意", "comment": "好" * (limit + 1)}, headers=auth)
    assert rated.status_code == 422
    with db.session() as session:
        notes = [e.note for e in session.exec(select(TicketEvent).where(
            TicketEvent.ticket_id == 2, TicketEvent.kind == "progress"))]
    assert notes == ["换灯泡"]


async def test_the_webhooks_quoted_text_is_cut_like_the_text(webhook, db):
    bot, app, client = webhook
    limit = bot.config.policy.max_message_length
    body, headers = signed({"id": "m1", "room": GRID, "sender": RESIDENT, "text": "收到",
                            "at": "2026-11-24T09:00:00+08:00", "quoted": "引" * 50_000})
    assert len(body) < bot.config.api.max_request_bytes
    assert (await client.post("/webhook/messages", content=body, headers=headers)).status_code == 200
    with db.session() as session:
        [stored] = session.exec(select(InboundMessage)).all()
    assert stored.quoted == "引" * limit


def test_the_limit_is_checked_at_start_with_its_key_path():
    with pytest.raises(ConfigError) as caught:
        parse_config({**small(), "api": {"max_request_bytes": 100}})
    assert any(line.startswith("api.max_request_bytes") for line in caught.value.problems)
    assert parse_config(small()).api.max_request_bytes == 262_144
