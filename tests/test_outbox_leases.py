"""Leases of the outbox (issue 19, item 1): a post a killed sender held goes out again at once when
its process is restarted, and through any live sender soon after its short lease lapses; a lease
is renewed while its post is being sent; each room keeps its order. The crash run: signed requests
through a real `gridbot run`, kill -9 while a post is in flight, restart, resend all: every request
one ticket, every reply delivered, and a new reply in the affected room within 5 s of the restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import httpx
import yaml
from fastapi import FastAPI, Request, Response
from sqlalchemy import update
from sqlmodel import func, select

import bot.outbox as outbox
from bot.outbox import deliver_pending, take_back_dead_leases, take_for_sending
from bot.transport import OutgoingPost
from bot.transports.webhook import SIGNATURE_HEADER, sign, signature_is_valid
from models.tables import OutboundPost, Ticket

from conftest import REPO
from local_server import ServedApp, free_port
from test_pacing import OTHER, Recorder, sent_in, write

GRID = "shibalong-1@chatroom"
SECRET = "s3cret-for-tests"
_table = OutboundPost.__table__


def held_by(db, post_ids: list[int], sender: str, at) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(_table).where(_table.c.id.in_(post_ids))
                           .values(sending_since=at, sending_by=sender))


def dead_sender() -> str:
    """The sender id of a process of this host that ran and ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:0123456789ab"


async def test_a_dead_senders_posts_are_taken_back_at_start_in_order(db, config, network, clock):
    write(db, config, network, GRID, 3, "grid ")
    write(db, config, network, OTHER, 1, "other ")
    held_by(db, [1, 2], dead_sender(), clock())      # killed while sending GRID's first two
    transport = Recorder()
    assert await deliver_pending(db, transport, clock, 20) == 1
    assert sent_in(transport, GRID) == []                  # held: the room waits, in order
    assert take_back_dead_leases(db) == 2
    assert await deliver_pending(db, transport, clock, 20) == 3
    assert sent_in(transport, GRID) == ["grid 0", "grid 1", "grid 2"]


async def test_a_live_sender_is_left_alone_at_start(db, config, network, clock):
    write(db, config, network, GRID, 1, "grid ")
    alive = f"{socket.gethostname()}:{os.getppid()}:0123456789ab"   # the process that runs us
    elsewhere = "another-host:1:0123456789ab"
    held_by(db, [1], alive, clock())
    assert take_back_dead_leases(db) == 0
    held_by(db, [1], elsewhere, clock())
    assert take_back_dead_leases(db) == 0


async def test_any_live_sender_takes_a_lapsed_lease_within_a_minute(db, config, network, clock):
    write(db, config, network, GRID, 2, "grid ")
    held_by(db, [1], "another-host:4242:0123456789ab", clock())  # died on another machine
    transport = Recorder()
    assert await deliver_pending(db, transport, clock, 20) == 0
    clock.advance(seconds=outbox.SEND_LEASE.total_seconds() + 1)
    assert outbox.SEND_LEASE <= timedelta(minutes=1)
    assert await deliver_pending(db, transport, clock, 20) == 2
    assert sent_in(transport, GRID) == ["grid 0", "grid 1"]


class Slow:
    """A transport whose send waits until let go."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.sent: list[OutgoingPost] = []

    async def send(self, post: OutgoingPost) -> None:
        self.started.set()
        await self.go.wait()
        self.sent.append(post)


async def test_a_lease_is_renewed_while_its_post_is_being_sent(db, config, network, clock,
                                                               monkeypatch):
    monkeypatch.setattr(outbox, "RENEW_EVERY", timedelta(milliseconds=20))
    write(db, config, network, GRID, 1, "grid ")
    transport = Slow()
    sending = asyncio.create_task(deliver_pending(db, transport, clock, 20))
    await transport.started.wait()
    for _ in range(3):  # the chat service takes far longer than a lease to answer
        clock.advance(seconds=outbox.SEND_LEASE.total_seconds() * 2 / 3)
        await asyncio.sleep(0.1)
        assert take_for_sending(db, [1], clock(), sender="another-host:1:x") == set()
    transport.go.set()
    assert await sending == 1 and [p.text for p in transport.sent] == ["grid 0"]


# -- the crash run -------------------------------------------------------------------------------

class Callback:
    """The bridge's callback on 127.0.0.1: records every post; while `hang` is set, a post into
    GRID gets no answer (the bot is killed while it waits)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.hang = threading.Event()
        self.stuck = threading.Event()
        self.lock = threading.Lock()
        app = FastAPI()

        @app.post("/callback")
        async def callback(request: Request) -> Response:
            body = await request.body()
            if not signature_is_valid(SECRET, body, request.headers.get(SIGNATURE_HEADER)):
                return Response(status_code=401)
            post = json.loads(body)
            if post["room"] == GRID and self.hang.is_set():
                self.stuck.set()
                while self.hang.is_set():
                    await asyncio.sleep(0.02)
                return Response(status_code=503)
            with self.lock:
                self.received.append({**post, "arrived": time.monotonic()})
            return Response(status_code=204)

        self.served = ServedApp(app)

    def replies_to(self, message_id: str) -> list[dict]:
        with self.lock:
            return [post for post in self.received if post["reply_to"] == message_id]


def request(n: int) -> dict:
    room = GRID if n % 2 == 0 else OTHER
    return {"id": f"crash-{n}", "room": room, "sender": f"wxid_crash_{n}", "name": f"居民{n}",
            "text": f"下单 {n % 7 + 1}栋{n % 5 + 1}单元楼道第{n}盏灯不亮", "at": "2026-11-24T09:00:00+08:00"}


def post_signed(base: str, payload: dict) -> int:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return httpx.post(f"{base}/webhook/messages", content=body, timeout=30,
                      headers={SIGNATURE_HEADER: sign(SECRET, body),
                               "Content-Type": "application/json"}).status_code


def start(config_path, db_url: str, port: int, folder) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(config_path), "--port",
         str(port), "--db", db_url],
        cwd=folder, env={**os.environ, "GRIDBOT_WEBHOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None, "gridbot run exited"
        assert time.monotonic() < deadline, "gridbot run did not come up"
        time.sleep(0.05)


def crash_run(db, folder, requests: int) -> dict:
    """The crash run; returns its figures."""
    callback = Callback()
    with callback.served:
        config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
        config["transport"] = {"kind": "webhook",
                               "callback_url": f"{callback.served.base_url}/callback",
                               "posts_per_room_per_minute": 1000}
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        first = start(path, db.url, port, folder)
        try:
            half = requests // 2
            for n in range(half):
                assert post_signed(base, request(n)) == 200
            callback.hang.set()           # GRID's next post gets no answer...
            n = half
            while n < requests and not callback.stuck.is_set():  # ...requests go on until
                assert post_signed(base, request(n)) == 200             # one is in flight
                n += 1
            assert callback.stuck.wait(timeout=90), "no post in flight"
            killed_after = n
            time.sleep(0.2)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        callback.hang.clear()
        restarted_at = time.monotonic()
        second = start(path, db.url, port, folder)
        try:
            up_at = time.monotonic()
            assert post_signed(base, request(requests)) == 200   # a new request in GRID
            deadline = up_at + 30
            while not callback.replies_to(f"crash-{requests}"):
                assert time.monotonic() < deadline, "no reply in the affected room"
                time.sleep(0.02)
            reply_at = callback.replies_to(f"crash-{requests}")[0]["arrived"]
            for n in range(requests):                              # resend all
                assert post_signed(base, request(n)) == 200
            deadline = time.monotonic() + 60
            while any(not callback.replies_to(f"crash-{n}") for n in range(requests)):
                assert time.monotonic() < deadline, "a reply never came"
                time.sleep(0.05)
        finally:
            second.terminate()
            second.wait(timeout=10)
    with db.session() as session:
        tickets = session.exec(select(func.count()).select_from(Ticket)).one()
        reporters = set(session.exec(select(Ticket.reporter_id)).all())
        waiting = session.exec(select(func.count()).select_from(OutboundPost)
                               .where(OutboundPost.delivered_at.is_(None))).one()
    return {"requests": requests + 1, "killed_after": killed_after, "tickets": tickets,
            "lost": requests + 1 - len(reporters), "waiting": waiting,
            "reply_after_restart_s": reply_at - restarted_at,
            "reply_after_up_s": reply_at - up_at}


def test_kill_9_while_sending_restart_resend_all(db, tmp_path):
    figures = crash_run(db, tmp_path, 60)
    assert figures["tickets"] == 61 and figures["lost"] == 0 and figures["waiting"] == 0
    # From the moment the restarted bot answers, not from its start (a loaded machine's
    # imports): the held post's lease is taken back at once, not after it lapses (a minute).
    assert figures["reply_after_up_s"] < 5, figures


# -- the delivery loop ---------------------------------------------------------------------------

async def test_a_new_message_cuts_a_long_backoff_short_but_a_flood_does_not_hammer():
    from bot.transports.webhook import Backoff, DeliveryLoop

    tries: list[float] = []
    state = {"pending": 1, "sent": 0}

    async def deliver():
        tries.append(asyncio.get_running_loop().time())
        return state["sent"], state["pending"]

    loop = DeliveryLoop(deliver, Backoff(first=timedelta(milliseconds=50), cap=timedelta(seconds=30)))
    task = asyncio.create_task(loop.run())
    try:
        loop.wake()
        await asyncio.sleep(1.0)          # nothing goes out: 50, 100, 200, 400 ms ... apart
        assert 3 <= len(tries) <= 6
        before = len(tries)
        for _ in range(200):               # a flood of messages: at most one try per 50 ms
            loop.wake()
            await asyncio.sleep(0.001)
        assert len(tries) - before <= 0.4 / 0.05 + 2
        state["pending"] = 0
        woken_at = asyncio.get_running_loop().time()
        loop.wake()                        # mid-backoff, a new reply goes within the first delay
        await asyncio.sleep(0.2)
        assert tries[-1] - woken_at < 0.12
    finally:
        task.cancel()
