"""The webhook transport: signed messages in, signed posts out to a real local HTTP receiver that
fails the first deliveries; every post arrives once, in order."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request, Response
from sqlmodel import func, select

from api.app import create_app
from bot.runtime import Bot
from bot.service import _deliver_and_count
from bot.transports.webhook import (SIGNATURE_HEADER, Backoff, DeliveryLoop, WebhookTransport,
                                   sign, signature_is_valid)
from models.tables import InboundMessage, OutboundPost, Ticket

from conftest import REPO
from local_server import ServedApp, free_port

SECRET = "s3cret-for-tests"
GRID = "shibalong-1@chatroom"
HEAD, RESIDENT = "wxid_qiu_huanwu", "wxid_resident_zhang"


class Receiver:
    """A real HTTP server on 127.0.0.1 standing in for the bridge's callback."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.received: list[dict] = []
        self.bad_signatures = 0
        app = FastAPI()

        @app.post("/callback")
        async def callback(request: Request) -> Response:
            body = await request.body()
            self.attempts += 1
            if not signature_is_valid(SECRET, body, request.headers.get(SIGNATURE_HEADER)):
                self.bad_signatures += 1
                return Response(status_code=401)
            if self.attempts <= self.failures:
                return Response(status_code=503)
            self.received.append(json.loads(body))
            return Response(status_code=204)

        self.served = ServedApp(app)

    @property
    def url(self) -> str:
        return f"{self.served.base_url}/callback"

    def __enter__(self) -> Receiver:
        self.served.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.served.__exit__(*exc)


def signed(payload: dict, secret: str = SECRET) -> tuple[bytes, dict]:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return body, {SIGNATURE_HEADER: sign(secret, body), "Content-Type": "application/json"}


def message(id, text, sender=RESIDENT, **extra):
    return {"id": id, "room": GRID, "sender": sender, "text": text,
            "at": "2026-11-24T09:00:00+08:00", **extra}


def count(db, table):
    with db.session() as session:
        return session.exec(select(func.count()).select_from(table)).one()


async def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


@pytest.fixture
async def api(config, network, db, clock):
    """The bot's API with the webhook, and a delivery loop with short backoffs, against `url`."""
    made = []

    async def make(url):
        transport = WebhookTransport(url, SECRET)
        bot = Bot(config, db, transport, network, clock=clock)
        loop = DeliveryLoop(lambda: _deliver_and_count(bot),
                            Backoff(first=timedelta(milliseconds=20), cap=timedelta(milliseconds=200)))
        task = asyncio.create_task(loop.run())
        app = create_app(bot, webhook_secret=SECRET, on_message=loop.wake)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")
        made.append((task, client, transport))
        return client, loop

    yield make
    for task, client, transport in made:
        task.cancel()
        await client.aclose()
        await transport.close()


async def test_a_bad_or_missing_signature_is_401_and_nothing_is_stored(api, db):
    client, _ = await api("http://127.0.0.1:9/unused")
    body, headers = signed(message("w1", "下单 4号楼二单元4楼的灯不亮"))
    missing = await client.post("/webhook/messages", content=body,
                                headers={"Content-Type": "application/json"})
    forged = await client.post("/webhook/messages", content=body,
                               headers={SIGNATURE_HEADER: sign("wrong", body)})
    tampered = await client.post("/webhook/messages", content=body.replace(b"4", b"5"),
                                 headers=headers)
    assert [r.status_code for r in (missing, forged, tampered)] == [401, 401, 401]
    assert "signature" in missing.json()["detail"].lower()
    assert count(db, InboundMessage) == 0 and count(db, Ticket) == 0


async def test_bad_bodies_get_a_clear_422(api, db):
    client, _ = await api("http://127.0.0.1:9/unused")
    for payload, expected in [({"room": GRID, "sender": RESIDENT, "text": "下单 漏水"}, "id"),
                              ({"id": "w2", "room": GRID, "text": "下单 漏水"}, "sender")]:
        body, headers = signed(payload)
        response = await client.post("/webhook/messages", content=body, headers=headers)
        assert response.status_code == 422 and response.json()["detail"].startswith(expected)
    body = b"not json"
    response = await client.post("/webhook/messages", content=body,
                                 headers={SIGNATURE_HEADER: sign(SECRET, body)})
    assert response.status_code == 422
    assert count(db, InboundMessage) == 0


async def test_every_post_arrives_once_in_order_after_failed_deliveries(api, db):
    with Receiver(failures=3) as receiver:
        client, loop = await api(receiver.url)
        for payload in [message("w1", "下单 4号楼二单元4楼的灯不亮"),
                        message("w2", "接单", sender=HEAD),
                        message("w3", "办结 #1 已修好", sender=HEAD),
                        message("w4", "评价 #1 满意")]:
            body, headers = signed(payload)
            first = await client.post("/webhook/messages", content=body, headers=headers)
            again = await client.post("/webhook/messages", content=body, headers=headers)
            assert first.status_code == again.status_code == 200
            assert first.json() == again.json() == {"accepted": True, "id": payload["id"]}
        await wait_for(lambda: len(receiver.received) >= 4)
        await asyncio.sleep(0.3)  # a few more backoff rounds: nothing may arrive twice
    assert [post["reply_to"] for post in receiver.received] == ["w1", "w2", "w3", "w4"]
    assert len({post["id"] for post in receiver.received}) == 4
    assert receiver.received[0]["text"].startswith("已受理 #1")
    assert receiver.received[0]["mentions"] == [HEAD] and receiver.received[0]["room"] == GRID
    assert receiver.attempts == 3 + 4 and receiver.bad_signatures == 0
    assert loop.retries >= 3
    assert count(db, InboundMessage) == 4 and count(db, Ticket) == 1


async def test_posts_wait_in_the_outbox_while_the_callback_is_down(api, db):
    port = free_port()  # nobody listens there
    client, loop = await api(f"http://127.0.0.1:{port}/callback")
    body, headers = signed(message("w1", "下单 4号楼二单元4楼的灯不亮"))
    assert (await client.post("/webhook/messages", content=body, headers=headers)).status_code == 200
    await wait_for(lambda: loop.retries >= 2)
    with db.session() as session:
        assert session.exec(select(OutboundPost.delivered_at)).all() == [None]


def test_gridbot_run_with_the_webhook_transport(tmp_path):
    """The whole process: `gridbot run` takes a signed message and calls the receiver back."""
    with Receiver(failures=1) as receiver:
        config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
        config["transport"] = {"kind": "webhook", "callback_url": receiver.url}
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--config", str(path), "--port", str(port),
             "--db", f"sqlite:///{tmp_path / 'run.sqlite3'}"],
            cwd=tmp_path, env={**os.environ, "GRIDBOT_WEBHOOK_SECRET": SECRET},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "gridbot run did not come up"
                time.sleep(0.1)
            body, headers = signed(message("r1", "下单 4号楼二单元4楼的灯不亮"))
            assert httpx.post(f"{base}/webhook/messages", content=body, headers=headers).json() \
                == {"accepted": True, "id": "r1"}
            deadline = time.monotonic() + 20
            while not receiver.received:
                assert time.monotonic() < deadline, "no callback"
                time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(timeout=10)
    [post] = receiver.received
    assert post["text"].startswith("已受理 #1") and post["reply_to"] == "r1"
    assert receiver.attempts == 2  # one refused, then delivered by the retry


async def test_a_message_from_an_unknown_room_is_kept_but_the_answer_and_the_log_say_not_acted_on(
        api, db, caplog):
    client, _ = await api("http://127.0.0.1:9/unused")
    stranger = {**message("u1", "下单 4号楼二单元4楼的灯不亮"), "room": "stranger@chatroom"}
    body, headers = signed(stranger)
    with caplog.at_level("WARNING", logger="api.webhook"):
        first = await client.post("/webhook/messages", content=body, headers=headers)
        again = await client.post("/webhook/messages", content=body, headers=headers)
    expected = {"accepted": False, "id": "u1", "reason": "unknown_room",
                "detail": "room 'stranger@chatroom' is not in the network; ignored"}
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == expected
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings and all("stranger@chatroom" in line and "u1" in line for line in warnings)
    assert count(db, InboundMessage) == 1 and count(db, Ticket) == 0  # kept, not acted on
    with db.session() as session:
        assert session.exec(select(InboundMessage.skipped)).one() == "unknown_room"   # and why

    # A room of the network: the answer is as before, with no reason.
    body, headers = signed(message("u2", "下单 4号楼二单元4楼的灯不亮"))
    known = await client.post("/webhook/messages", content=body, headers=headers)
    assert known.status_code == 200 and known.json() == {"accepted": True, "id": "u2"}
    # A recall is acted on by the id it takes back, whatever room it names.
    body, headers = signed({"recall": "u2", "room": "stranger@chatroom", "sender": RESIDENT})
    recalled = await client.post("/webhook/messages", content=body, headers=headers)
    assert recalled.json() == {"accepted": True, "id": "recall:u2"}
