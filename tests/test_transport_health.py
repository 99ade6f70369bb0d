"""A failing transport is visible (issue 20, item 6): `/api/transport` shows the target (masked),
the last success, the last error, the failed tries since and the backlog; `/readyz` turns not
ready once every try failed for `transport.unready_after`, not on a blip; the retry log lines
name the target, masked. Against a real local callback that answers 500 (or a closed port) and
the fake wechaty gateway run as a subprocess."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from api.app import create_app
from api.tokens import create_token
from bot.runtime import Bot
from bot.service import _deliver_and_count
from bot.transports.health import (ConnectionHealth, TransportHealth, masked_url, scrub_logger,
                                  scrubbed)
from bot.transports.webhook import Backoff, DeliveryLoop, WebhookTransport
from bot.transports.wechaty_client import WechatyTransport

from conftest import START
from local_server import ServedApp, free_port
from test_webhook import SECRET, message, signed, wait_for

FIVE_MINUTES = timedelta(minutes=5)


class Shifted:
    """The wall clock, moved ahead by `ahead` (to let minutes of failing pass at once)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.ahead


# ---- masking --------------------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("https://user:p4ss@bridge.example.org/cb?token=abc&room=1&access_key=k&sig=s",
     "https://***@bridge.example.org/cb?token=***&room=1&access_key=***&sig=***"),
    ("https://tok3n@bridge.example.org:8443/cb", "https://***@bridge.example.org:8443/cb"),
    ("http://127.0.0.1:9000/callback?room=a%20b", "http://127.0.0.1:9000/callback?room=a+b"),
    ("http://127.0.0.1:9000/callback", "http://127.0.0.1:9000/callback"),
])
def test_credentials_in_a_url_are_masked(url, shown):
    assert masked_url(url) == shown


def test_an_error_message_is_scrubbed_of_urls_and_secrets():
    text = "ConnectError: https://u:pw@h.example.org/x?apikey=zz failed; token puppet_abc"
    assert scrubbed(text, ["puppet_abc"]) == \
        "ConnectError: https://***@h.example.org/x?apikey=*** failed; token ***"


def test_a_short_secret_does_not_garble_the_message():
    assert scrubbed("callback answered 500", ["k", "500x"]) == "callback answered 500"


def test_a_library_logger_writes_urls_masked(caplog):
    scrub_logger("tests.chatty", ["puppet_abc"])
    with caplog.at_level("INFO", logger="tests.chatty"):
        logging.getLogger("tests.chatty").info("POST %s with %s", "https://u:pw@h.example.org/x",
                                               "puppet_abc")
    assert [r.getMessage() for r in caplog.records] == ["POST https://***@h.example.org/x with ***"]


# ---- readiness over time --------------------------------------------------------------------

def test_a_blip_leaves_the_transport_ready_a_long_failure_does_not():
    clock = Shifted()
    health = TransportHealth(target="https://bridge.example.org/cb", clock=clock)
    assert health.unready_reason(FIVE_MINUTES) is None and health.connected
    health.failed(RuntimeError("callback answered 503"))
    assert health.unready_reason(FIVE_MINUTES) is None and not health.connected
    clock.ahead = timedelta(minutes=4, seconds=59)
    health.failed(RuntimeError("callback answered 503"))
    assert health.unready_reason(FIVE_MINUTES) is None
    assert health.attempts_since_success == 2
    clock.ahead = timedelta(minutes=5)
    reason = health.unready_reason(FIVE_MINUTES)
    assert reason.startswith("failing for 5 min (since ") and "2 tries" in reason
    assert reason.endswith("last error: RuntimeError: callback answered 503)")
    health.succeeded()
    assert health.unready_reason(FIVE_MINUTES) is None and health.failing_since is None
    assert health.attempts_since_success == 0 and health.last_success_at is not None


def test_a_connection_is_not_ready_before_its_first_login_nor_long_after_losing_it():
    clock = Shifted()
    health = ConnectionHealth(target="10.0.0.5:8788", clock=clock)
    health.failed("gateway 10.0.0.5:8788 unreachable: ConnectionRefusedError()")
    assert health.unready_reason(FIVE_MINUTES).startswith("not connected yet (1 tries")
    health.succeeded()
    health.set_connected(True)                       # logged in
    health.failed("post 3: NOT_FOUND")               # a refused post: still connected, ready
    assert health.connected and health.unready_reason(FIVE_MINUTES) is None
    health.succeeded()
    health.failed("gateway 10.0.0.5:8788: event stream ended")
    health.set_connected(False)                      # lost: a blip for now
    assert health.unready_reason(FIVE_MINUTES) is None
    clock.ahead = timedelta(minutes=6)
    assert health.unready_reason(FIVE_MINUTES).startswith("failing for 6 min")


# ---- the webhook transport against a real callback ------------------------------------------

class Callback:
    """A local bridge callback: answers 500 while `down`, 413 to a post about 电梯, else 204."""

    def __init__(self) -> None:
        self.down = True
        self.received: list[dict] = []
        app = FastAPI()

        @app.post("/callback")
        async def callback(request: Request) -> Response:
            post = json.loads(await request.body())
            if self.down:
                return Response(status_code=500)
            if "电梯" in post["text"]:
                return Response(status_code=413)
            self.received.append(post)
            return Response(status_code=204)

        self.served = ServedApp(app)


@pytest.fixture
async def webhook_bot(config, network, db, clock):
    """The bot with the webhook transport against `url`, its delivery loop (short backoffs), its
    app and a token at the network's top; the transport's health on a clock the test can move."""
    made = []

    async def make(url):
        health_clock = Shifted()
        transport = WebhookTransport(url, SECRET, health=TransportHealth(clock=health_clock))
        bot = Bot(config, db, transport, network, clock=clock)
        loop = DeliveryLoop(lambda: _deliver_and_count(bot),
                            Backoff(first=timedelta(milliseconds=20), cap=timedelta(milliseconds=200)),
                            target=transport.target)
        task = asyncio.create_task(loop.run())
        app = create_app(bot, webhook_secret=SECRET, on_message=loop.wake)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")
        token = create_token(db, network, network.root.id, "ops", START)
        made.append((task, client, transport))
        return client, transport, health_clock, {"Authorization": f"Bearer {token}"}

    yield make
    for task, client, transport in made:
        task.cancel()
        await client.aclose()
        await transport.close()


async def test_a_failing_callback_shows_in_the_api_readyz_and_the_log_until_it_recovers(
        webhook_bot, caplog):
    callback = Callback()
    with callback.served, caplog.at_level(logging.INFO):
        port = callback.served.port
        url = f"http://bridge:pa55word@127.0.0.1:{port}/callback?token=sekr1t&room=all"
        shown = f"http://***@127.0.0.1:{port}/callback?token=***&room=all"
        client, transport, health_clock, auth = await webhook_bot(url)
        for payload in [message("h1", "下单 3栋电梯坏了"), message("h2", "下单 4号楼二单元4楼的灯不亮")]:
            body, headers = signed(payload)
            assert (await client.post("/webhook/messages", content=body, headers=headers)).json()["accepted"]
        await wait_for(lambda: transport.health.attempts_since_success >= 3)

        health = (await client.get("/api/transport", headers=auth)).json()
        assert health["target"] == shown
        assert health["connected"] is False and health["last_success_at"] is None
        assert health["attempts_since_success"] >= 3 and health["failing_since"] is not None
        assert health["last_error"].startswith(f"CallbackRefused: callback {shown} answered 500 to post ")
        assert health["last_error_at"] is not None and health["pending_posts"] >= 2
        assert health["dead_letters"] == 0
        # A blip: still ready.
        assert health["ready"] is True and (await client.get("/readyz")).status_code == 200

        health_clock.ahead = timedelta(minutes=5, seconds=1)  # failing for longer than unready_after
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        [problem] = ready.json()["detail"]
        assert problem.startswith(f"transport {shown}: failing for 5 min (since ")
        assert (await client.get("/api/transport", headers=auth)).json()["ready"] is False

        callback.down = False  # the bridge is back: the first post is refused for good, the next goes
        await wait_for(lambda: callback.received and transport.health.failing_since is None
                       and _dead(transport))
        health = (await client.get("/api/transport", headers=auth)).json()
        assert health["connected"] is True and health["attempts_since_success"] == 0
        assert health["last_success_at"] is not None and health["failing_since"] is None
        assert health["pending_posts"] == 0 and health["dead_letters"] == 1
        assert "413" in health["last_error"]  # the last error stays shown, with its time
        assert (await client.get("/readyz")).status_code == 200

    logged = [record.getMessage() for record in caplog.records]
    retries = [line for line in logged if "not delivered yet" in line]
    assert retries and all(shown in line for line in retries)
    assert not [line for line in logged if "pa55word" in line or "sekr1t" in line]


def _dead(transport: WebhookTransport) -> bool:
    return transport.health.last_error is not None and "413" in transport.health.last_error


async def test_a_closed_port_shows_as_unreachable(webhook_bot):
    port = free_port()  # nobody listens there
    client, transport, _, auth = await webhook_bot(f"http://127.0.0.1:{port}/callback")
    body, headers = signed(message("c1", "下单 4号楼二单元4楼的灯不亮"))
    await client.post("/webhook/messages", content=body, headers=headers)
    await wait_for(lambda: transport.health.attempts_since_success >= 2)
    health = (await client.get("/api/transport", headers=auth)).json()
    assert health["last_error"].startswith(
        f"callback http://127.0.0.1:{port}/callback unreachable for post 1: ConnectError")
    assert health["pending_posts"] == 1 and health["connected"] is False


# ---- the wechaty transport against the fake gateway -----------------------------------------

async def test_a_wechaty_gateway_that_is_down_shows_its_error_until_it_comes_up(
        config, network, db, clock, tmp_path):
    from test_wechaty import BOT_ID, FakeGateway  # noqa: F401 - the fake gateway's subprocess

    gateway = FakeGateway(tmp_path)  # not started yet: its port is closed
    transport = WechatyTransport(endpoint=gateway.endpoint, token="puppet_secret_token",
                                 backoff=Backoff(timedelta(milliseconds=100), timedelta(milliseconds=300)),
                                 heartbeat_timeout=10.0, connect_timeout=1.0, send_timeout=5.0)
    bot = Bot(config, db, transport, network, clock=clock)
    transport.attach(bot)
    app = create_app(bot)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")
    auth = {"Authorization": f"Bearer {create_token(db, network, network.root.id, 'ops', START)}"}
    running = asyncio.create_task(transport.run())
    try:
        await wait_for(lambda: transport.health.attempts_since_success >= 2)
        health = (await client.get("/api/transport", headers=auth)).json()
        assert health["target"] == gateway.endpoint and health["connected"] is False
        assert health["last_error"].startswith(f"gateway {gateway.endpoint} unreachable: ")
        assert "Connect" in health["last_error"] and health["last_success_at"] is None
        assert health["ready"] is False
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"][0].startswith(f"transport {gateway.endpoint}: not connected yet")

        gateway.start()
        await wait_for(lambda: transport.health.connected, timeout=30)
        health = (await client.get("/api/transport", headers=auth)).json()
        assert health["connected"] is True and health["last_success_at"] is not None
        assert health["attempts_since_success"] == 0 and health["ready"] is True
        assert (await client.get("/readyz")).status_code == 200

        gateway.kill()  # lost: shown at once, and a blip for readiness
        await wait_for(lambda: not transport.health.connected
                       and transport.health.attempts_since_success >= 1)
        health = (await client.get("/api/transport", headers=auth)).json()
        assert health["last_error"].startswith(f"gateway {gateway.endpoint}")
        assert health["ready"] is True and (await client.get("/readyz")).status_code == 200
        assert "puppet_secret_token" not in json.dumps(health)
    finally:
        transport.stop()
        await asyncio.wait_for(running, 30)
        await client.aclose()
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.kill()
