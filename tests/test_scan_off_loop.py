"""The scheduler's work runs off the event loop of `gridbot run`, in a thread or in a process of
its own: the API answers while a scan runs, `/healthz` answers before the catch-up scan after
start is done (and `/readyz` says it is running), and a stop during a scan waits for a safe
point and leaves no thread or process behind. A scan is held in its escalations by the test (in
the thread's case), so nothing here depends on speed."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlmodel import select

from api.app import create_app
from api.tokens import create_token
from bot import digest_runs, service, sweeps
from bot.scan_process import ScanProcess, shares_database
from bot.service import ScanWorker, make_scan, serve
from models.tables import OutboundPost, Ticket, TicketEscalation

from conftest import REPO, START
from local_server import free_port

GRID, BRANCH = "shibalong-1@chatroom", "baiyi-b1@chatroom"
HOLD = 30  # seconds a held scan waits for the test at most, so that a failure never hangs


class Held:
    """`sweeps.escalate_due` held (in whatever thread runs it) until the test releases it."""

    def __init__(self, monkeypatch) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.released_by_test: bool | None = None
        escalate = sweeps.escalate_due

        def held(*args, **kwargs):
            self.entered.set()
            self.released_by_test = self.release.wait(HOLD)
            return escalate(*args, **kwargs)

        monkeypatch.setattr(sweeps, "escalate_due", held)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, HOLD)


def scan_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gridbot-scan")]


async def test_the_api_answers_while_a_scan_runs(sim, db, network, clock, monkeypatch):
    # A ticket whose claim timer ran out: the scan escalates it to the branch.
    await sim.say(GRID, "wxid_resident_zhang", "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    clock.advance(hours=3)
    token = create_token(db, network, "baiyi-b1", "branch office", START)
    held = Held(monkeypatch)
    worker = ScanWorker()
    scanning = asyncio.create_task(make_scan(sim.bot, worker=worker)())
    await held.wait_entered()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim.bot)),
                                 base_url="http://bot") as client:
        health = await client.get("/healthz")
        tickets = await client.get("/api/tickets?page=1",
                                   headers={"Authorization": f"Bearer {token}"})
    assert not scanning.done() and not held.release.is_set()  # answered while the scan is held
    assert health.status_code == 200
    assert tickets.status_code == 200
    assert [t["escalation_level"] for t in tickets.json()["items"]] == [0]  # not escalated yet
    held.release.set()
    await scanning
    await worker.stop()
    assert held.released_by_test
    assert [p.room for p in sim.posts if p.text.startswith("【吹哨】")] == [BRANCH]  # delivered
    assert scan_threads() == []


async def test_what_a_scan_wrote_goes_out_while_it_is_still_at_work(sim, db, clock,
                                                                    monkeypatch):
    # A catch-up's 吹哨 written, then its digest round held (minutes at Liuyang's size): the
    # 吹哨 is delivered meanwhile, not once the round is over.
    await sim.say(GRID, "wxid_resident_zhang", "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    clock.advance(hours=3)
    in_digests, release = threading.Event(), threading.Event()

    def held_digests(*args, **kwargs):
        in_digests.set()
        release.wait(HOLD)
        return []

    monkeypatch.setattr(digest_runs, "send_due_digests", held_digests)
    monkeypatch.setattr(service, "DELIVER_DURING_SCAN", 0.05)
    woken, finished = [], []
    worker = ScanWorker()
    scanning = asyncio.create_task(make_scan(sim.bot, after_scan=lambda: finished.append(1),
                                             worker=worker,
                                             during_scan=lambda: woken.append(1))())
    assert await asyncio.to_thread(in_digests.wait, HOLD)
    for _ in range(200):   # a few delivery rounds of 0.05 s
        if any(p.text.startswith("【吹哨】") for p in sim.posts):
            break
        await asyncio.sleep(0.05)
    assert not scanning.done() and [p.room for p in sim.posts
                                    if p.text.startswith("【吹哨】")] == [BRANCH]
    assert woken and not finished   # the transport woken; the scan not said to be over
    release.set()
    await scanning
    await worker.stop()
    assert finished == [1]
    assert [p.room for p in sim.posts if p.text.startswith("【吹哨】")] == [BRANCH]  # once


@pytest.fixture
def served(config, db, monkeypatch):
    """`gridbot run`'s serve() on a free port with its first scan held; yields (held, client,
    the serving task, the stop event)."""
    held = Held(monkeypatch)

    async def start():
        port, stop = free_port(), asyncio.Event()
        serving = asyncio.create_task(serve(config, db, "127.0.0.1", port, stop=stop,
                                            scan_in="thread"))  # held by a patch of this process
        return serving, stop, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")

    return held, start


async def test_healthz_answers_while_the_catch_up_scan_runs(served):
    held, start = served
    serving, stop, client = await start()
    async with client:
        await held.wait_entered()  # the first scan is in its escalations, held
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        assert not held.release.is_set()
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert ready.status_code == 200 and ready.json()["catch_up"] == "running"
        held.release.set()

        async def caught_up():
            while (await client.get("/readyz")).json()["catch_up"] != "done":
                await asyncio.sleep(0.02)

        await asyncio.wait_for(caught_up(), HOLD)
    stop.set()
    await asyncio.wait_for(serving, HOLD)
    assert held.released_by_test
    assert scan_threads() == []


async def test_a_stop_during_a_scan_waits_for_a_safe_point_and_leaves_no_thread(
        served, monkeypatch, caplog):
    held, start = served
    later_sweeps = []
    monkeypatch.setattr(sweeps, "close_unrated", lambda *args: later_sweeps.append(args) or [])
    serving, stop, client = await start()
    async with client:
        await held.wait_entered()
    with caplog.at_level(logging.INFO, logger="bot.service"):
        stop.set()

        async def stopping():
            while "waiting for the scan in progress" not in caplog.text:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(stopping(), HOLD)
        assert not serving.done()  # it waits for the scan's thread
        held.release.set()
        await asyncio.wait_for(serving, HOLD)
    assert held.released_by_test
    assert later_sweeps == []  # the escalations' batch ended; the next sweep did not begin
    assert scan_threads() == []


async def test_a_stopped_worker_takes_no_more_work():
    worker = ScanWorker()
    assert await worker.run(lambda: 42) == 42
    await worker.stop()
    with pytest.raises(asyncio.CancelledError):
        await worker.run(lambda: 42)
    assert scan_threads() == []


@pytest.mark.parametrize("handed", ["file bytes", "config"])
async def test_a_scan_process_escalates_what_fell_due_while_the_api_serves(sim, config, db, handed,
                                                                           tmp_path, monkeypatch):
    """`gridbot run`'s default with a database a second process can open: the catch-up scan
    runs in a child process; the ticket is escalated once, its post delivered by the parent,
    and at stop no child is left. The child is handed the config file's bytes (`gridbot run`,
    built back from them in the child) or, with no file, the config itself."""
    import yaml

    from bot.config_loading import load_config

    await sim.say(GRID, "wxid_resident_zhang", "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    # The child scans at the wall clock's time: without quiet hours the ticket (not urgent) is
    # escalated whatever the hour the suite runs at.
    source = None
    if handed == "file bytes":
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
        data["policy"]["quiet_hours"] = None
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        source = (path, path.read_bytes())
        config = load_config(path, transport=False, raw=source[1])
        handed_over = []
        monkeypatch.setattr(ScanProcess, "_new_executor", lambda self, original=(
            ScanProcess._new_executor): handed_over.append(self._arguments[:2]) or original(self))
    else:
        config = config.model_copy(update={
            "policy": config.policy.model_copy(update={"quiet_hours": None})})
    port, stop = free_port(), asyncio.Event()
    serving = asyncio.create_task(serve(config, db, "127.0.0.1", port, stop=stop,
                                        config_source=source))
    children: list[multiprocessing.Process] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

        async def caught_up():
            while True:
                try:
                    if (await client.get("/readyz")).json()["catch_up"] == "done":
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                await asyncio.sleep(0.05)

        await asyncio.wait_for(caught_up(), 120)
        children = multiprocessing.active_children()
        # Background work: the child yields the CPU to the API.
        assert all(os.getpriority(os.PRIO_PROCESS, child.pid)
                   > os.getpriority(os.PRIO_PROCESS, 0) for child in children)
    stop.set()
    await asyncio.wait_for(serving, HOLD)
    assert [c.pid for c in children]  # the scan ran in a child
    assert multiprocessing.active_children() == []
    with db.session() as session:
        ticket = session.exec(select(Ticket)).one()
        records = session.exec(select(TicketEscalation)).all()
        posts = [p for p in session.exec(select(OutboundPost).order_by(OutboundPost.id))
                 if p.text.startswith("【吹哨】")]
    assert ticket.escalation_level >= 1
    assert len(records) == ticket.escalation_level  # each level once
    assert [p.room for p in posts][:1] == [BRANCH]
    assert posts[0].delivered_at is not None  # written by the child, sent by the parent
    if handed == "file bytes":   # no pickled GridConfig: the file and its bytes
        assert handed_over == [(None, source)]


def test_a_scan_process_needs_a_database_a_second_process_can_open(config, tmp_path):
    assert shares_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert shares_database("postgresql+psycopg://u@localhost/gridbot")
    assert not shares_database("sqlite://")
    assert not shares_database("sqlite:///:memory:")
    with pytest.raises(ValueError, match="in-memory"):
        ScanProcess(config, "sqlite://")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_gridbot_run_leaves_no_scan_process_behind(tmp_path, how):
    """Stopped by SIGTERM (uvicorn raises it again after its shutdown, which ends the process
    at once: the scan process is stopped before) or killed outright (the scan process sees its
    parent gone and ends by itself): either way the child ends, so the pipe it shares with its
    parent for stderr closes."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(REPO / "config.yaml"),
         "--db", f"sqlite:///{tmp_path / 'run.sqlite3'}", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()["catch_up"] == "done"
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert ready, "the catch-up scan never ended"
        process.send_signal(how)
        log = process.communicate(timeout=30)[1]  # EOF only once the child is gone too
    finally:
        if process.poll() is None:
            process.kill()
    if how == signal.SIGTERM:
        assert "scans run in a process of their own" in log
