"""`gridbot run`: one process for the bot, its transport, the scheduler and the HTTP API."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app
from bot.logs import configure_logging as _configure_logging
from bot.outbox import pending_count, take_back_dead_leases
from bot.readiness import CatchUp
from bot.runtime import Bot
from bot.scan_process import ScanProcess, shares_database
from bot.transports.simulator import Simulator
from bot.transports.webhook import DeliveryLoop, WebhookTransport
from flows.config import GridConfig
from flows.credentials import mask_url, url_secrets
from flows.network import Network
from models.db import Database

log = logging.getLogger(__name__)

SCAN_EVERY = timedelta(minutes=1)
# While a scan runs, what it has written so far is delivered this often (seconds): a catch-up's
# 吹哨 need not wait for its digest round, minutes for 1,100 branches.
DELIVER_DURING_SCAN = 5.0
T = TypeVar("T")


class SchedulerClock:
    """The time the scheduler runs at: the bot's clock, as long as it moves ahead no further
    than the time that passed (a monotonic clock) plus `max_jump`.

    A jump further ahead (a host clock set ten years on) is logged and not taken as time
    passed: the scheduler goes on at the time it should be, so years of escalations, closings
    and digests are not run at once, nor due times set years ahead. Once the clock comes back,
    it is followed again. A restart takes the clock as it finds it: what fell due while the
    bot was down is caught up once, as after any downtime.
    """

    def __init__(self, wall: Callable[[], datetime], max_jump: timedelta,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.wall, self.max_jump, self.monotonic = wall, max_jump, monotonic
        self.last: tuple[datetime, float] | None = None  # (time run at, monotonic time then)
        self.set_aside = timedelta(0)  # how far the bot's clock is ahead of the scheduler's

    def __call__(self) -> datetime:
        wall, ticks = self.wall(), self.monotonic()
        now = wall - self.set_aside
        if self.last is not None:
            last_at, last_ticks = self.last
            expected = last_at + timedelta(seconds=max(ticks - last_ticks, 0.0))
            if now - expected > self.max_jump:
                log.error("the clock jumped %s ahead (now %s); the scheduler goes on at %s",
                          now - expected, wall.isoformat(), expected.isoformat())
                self.set_aside += now - expected
                now = expected
            elif now < expected and self.set_aside:
                # The clock came back: follow it again as far as it went back.
                back = min(expected - now, self.set_aside)
                self.set_aside -= back
                now += back
                if not self.set_aside:
                    log.warning("the clock is back; the scheduler follows it again")
        self.last = (now, ticks)
        return now


class ScanWorker:
    """The one thread the scheduler's work runs in, off the event loop: while a scan or the
    digests run, the loop goes on serving the API and the transport.

    One thread, so scans of this process never overlap, even one abandoned by a cancelled job
    (the next waits for it); several processes sharing a database rely on its unique keys as
    before (bot/sweeps.py). The work uses sessions of its own (`Database.session`), never one
    of the loop's. `stop` asks the work to stop at its next safe point and waits for the thread.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridbot-scan")
        self._stopping = threading.Event()
        self._running: Future | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, work: Callable[..., T], *args) -> T:
        """`work(*args)` in the worker's thread; raises what it raises. Raises
        `asyncio.CancelledError` once the worker is stopping."""
        if self._stopping.is_set():
            raise asyncio.CancelledError("the scan worker is stopping")
        future = self._executor.submit(work, *args)
        self._running = future
        return await asyncio.wrap_future(future)

    async def scan(self, bot: Bot, now: datetime) -> None:
        """`bot.run_scan` at `now`, in the worker's thread."""
        await self.run(bot.run_scan, now, lambda: self.stopping)

    async def stop(self) -> None:
        """Let the work in progress reach its next safe point (between two transactions, see
        `Bot.run_due`) and end the thread; what was not done is still due at the next start."""
        self._stopping.set()
        running = self._running
        if running is not None and not running.done():
            log.info("waiting for the scan in progress to reach a safe point")
            await asyncio.wait([asyncio.wrap_future(running)])
        self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self._executor.shutdown, wait=True)


def make_scan(bot: Bot, after_scan: Callable[[], None] = lambda: None,
              clock: Callable[[], datetime] | None = None,
              worker: ScanWorker | ScanProcess | None = None,
              during_scan: Callable[[], None] = lambda: None) -> Callable[[], Awaitable[None]]:
    """One scheduled run: messages due for another try, then what is due at `clock`'s time.

    The clock is read on the loop (its guard against jumps keeps state); the database work runs
    in `worker` (a thread, or a process of its own: `ScanProcess`; a new thread when none is
    given); the posts it writes are delivered from the loop, where the transport sends, every
    `DELIVER_DURING_SCAN` seconds while it runs (then `during_scan` is called: a transport's
    delivery woken) and once more when it is done (then `after_scan`)."""
    clock = clock or SchedulerClock(bot.clock, bot.config.policy.max_clock_jump)
    worker = worker or ScanWorker()

    async def deliver(when: str) -> None:
        try:
            await bot.deliver()
        except Exception:
            log.exception("delivering %s failed; the next scan tries again", when)

    async def scan() -> None:
        running = asyncio.ensure_future(worker.scan(bot, clock()))
        while not (await asyncio.wait({running}, timeout=DELIVER_DURING_SCAN))[0]:
            await deliver("during the scan")   # the leases keep two deliveries apart
            during_scan()
        await running   # its error, if any, is the scan's
        await deliver("after the scan")
        after_scan()

    return scan


def make_scheduler(bot: Bot, after_scan: Callable[[], None] = lambda: None,
                   worker: ScanWorker | ScanProcess | None = None,
                   during_scan: Callable[[], None] = lambda: None) -> AsyncIOScheduler:
    """The scheduler of the bot's process: every minute, try again the stored messages whose
    handling failed, and run what is due (escalations, the rating window, digests) at the
    bot's clock, guarded against jumps (SchedulerClock), in `worker`'s thread (`make_scan`). It
    runs once as soon as it starts too, so what fell due while the bot was down goes at once; a
    scan still running when the next is due is not doubled (max_instances), and missed ones are
    not replayed one by one (coalesce)."""
    scan = make_scan(bot, after_scan, worker=worker, during_scan=during_scan)
    scheduler = AsyncIOScheduler()
    scheduler.add_job(scan, IntervalTrigger(seconds=SCAN_EVERY.total_seconds()), id="scan",
                      max_instances=1, coalesce=True, misfire_grace_time=int(SCAN_EVERY.total_seconds()),
                      next_run_time=datetime.now(timezone.utc))
    return scheduler


def configure_logging(config: GridConfig, db: Database) -> None:
    """`gridbot run`'s log: INFO and above on stderr, with the transport's token and secret and
    the database's password masked wherever they appear (`bot.logs`)."""
    _configure_logging(log_secrets(config, db))


def log_secrets(config: GridConfig, db: Database) -> list[str | None]:
    """What the log of `gridbot run` (and of its scan process) masks: the transport's token,
    secrets and accounts' keys, and the database URL's password and secret query values."""
    transport = config.transport
    return [transport.wechaty_token(), transport.webhook_secret(), *transport.account_secrets(),
            *url_secrets(db.url)]


def dashboard_url(host: str, port: int) -> str:
    """Where the API and the dashboard answer: 'http://127.0.0.1:8000/' ('[::1]' for IPv6)."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def startup_lines(config: GridConfig, db: Database, host: str, port: int,
                  config_path: Path | None = None) -> list[str]:
    """What `gridbot run` logs at start, one line each: the config file, the database, the
    transport and its target, the API and dashboard URL. No credentials: the database URL's
    password and secret query values of the callback URL are `***`; the gateway token and the
    webhook secret are never named."""
    transport = config.transport
    if transport.kind == "webhook":
        target = f"webhook: posts to {mask_url(transport.callback_url or '')}, messages in at " \
                 f"{dashboard_url(host, port)}webhook/messages"
    elif transport.kind == "wecom" and transport.wecom:
        accounts = ", ".join(f"{a.id} ({len(a.rooms)} rooms"
                             f"{', long connection' if a.long_connection else ''})"
                             for a in transport.wecom.accounts)
        target = f"wecom: AI bot callbacks at {dashboard_url(host, port)}wecom/<account>/callback" \
                 f", accounts {accounts}; group robots at {mask_url(transport.wecom.robot_url)}"
    elif transport.kind == "dingtalk" and transport.dingtalk:
        accounts = ", ".join(f"{a.id} ({len(a.rooms)} rooms)" for a in transport.dingtalk.accounts)
        target = f"dingtalk: Stream mode, accounts {accounts}; custom robots at " \
                 f"{mask_url(transport.dingtalk.robot_url)}"
    elif transport.kind == "wechaty":
        target = f"wechaty: gateway {transport.endpoint}"
    else:
        target = "simulator: in-process, no chat service"
    return [
        f"config: {config_path.resolve() if config_path else '(given in code)'}",
        f"database: {db.shown_place}",
        f"transport: {target}",
        f"API and dashboard: {dashboard_url(host, port)} (API docs at /docs)",
    ]


async def serve(config: GridConfig, db: Database, host: str, port: int,
                config_path: Path | None = None, stop: asyncio.Event | None = None,
                scan_in: str = "auto", config_source: tuple[Path, bytes] | None = None) -> None:
    """Run the bot, its transport, the scheduler and the HTTP API until stopped (Ctrl-C,
    SIGTERM, or `stop` set); logs first what it runs (`startup_lines`). `config_path` is only
    shown.

    The API listens first; only then the scheduler starts, its first scan (the catch-up of what
    fell due while the bot was down) at once, in a worker of its own: `/healthz` answers while
    it runs, and `/readyz` says `"catch_up": "running"` until it is done. `scan_in` chooses the
    worker: "process" (`ScanProcess`: the API's answers do not wait for the interpreter's lock
    while a scan runs), "thread" (`ScanWorker`), or "auto": a process when the database can be
    opened by a second one (a SQLite file or a server), else a thread. At stop a scan in
    progress stops at its next safe point and its worker ends before this returns.
    `config_source`: (the config file, the bytes `config` was loaded from), for the scan process
    to load them itself (see `ScanProcess`); without it the process is handed `config`."""
    if scan_in not in ("auto", "process", "thread"):
        raise ValueError(f"scan_in: expected auto, process or thread, not {scan_in!r}")
    for line in startup_lines(config, db, host, port, config_path):
        log.info("%s", line)
    network = Network(config)
    kind = config.transport.kind
    take_back_dead_leases(db)  # posts a killed predecessor held go out now, not after the lease
    background: list[asyncio.Task] = []
    app_options = {}
    if kind == "simulator":
        transport = Simulator(network)
        bot = Bot(config, db, transport, network)
        transport.attach(bot)
        wake = lambda: None  # noqa: E731 - the simulator delivers at once
    elif kind == "webhook":
        secret = config.transport.webhook_secret()
        transport = WebhookTransport(config.transport.callback_url, secret)
        bot = Bot(config, db, transport, network)
        delivery = DeliveryLoop(lambda: _deliver_and_count(bot), target=transport.target)
        background.append(asyncio.create_task(delivery.run(), name="webhook-delivery"))
        wake = delivery.wake
        app_options = {"webhook_secret": secret, "on_message": wake}
    elif kind == "wecom":
        from bot.transports.wecom import WeComTransport, wecom_router

        transport = WeComTransport(config.transport.wecom, media_limits=config.media.max_bytes)
        bot = Bot(config, db, transport, network)
        transport.clock = bot.clock
        delivery = DeliveryLoop(lambda: _deliver_and_count(bot), target="WeCom")
        transport.attach(bot, delivery.wake)  # its response_urls kept in the database
        background.append(asyncio.create_task(delivery.run(), name="wecom-delivery"))
        if transport.long_connections:
            background.append(asyncio.create_task(transport.run(), name="wecom-long-connection"))
        wake = delivery.wake
        app_options = {"routers": [wecom_router(bot, transport, delivery.wake)]}
    elif kind == "dingtalk":
        from bot.transports.dingtalk import DingTalkTransport

        transport = DingTalkTransport(config.transport.dingtalk,
                                      media_limits=config.media.max_bytes)
        bot = Bot(config, db, transport, network)
        transport.clock = bot.clock
        delivery = DeliveryLoop(lambda: _deliver_and_count(bot), target="DingTalk")
        transport.attach(bot, delivery.wake)
        background.append(asyncio.create_task(delivery.run(), name="dingtalk-delivery"))
        background.append(asyncio.create_task(transport.run(), name="dingtalk-stream"))
        wake = delivery.wake
    else:
        from bot.transports.wechaty_client import WechatyTransport

        transport = WechatyTransport(endpoint=config.transport.endpoint,
                                     token=config.transport.wechaty_token())
        bot = Bot(config, db, transport, network)
        transport.attach(bot)
        background.append(asyncio.create_task(transport.run(), name="wechaty"))
        wake = lambda: None  # noqa: E731 - the supervisor delivers on each (re)connect
    bot.offload = asyncio.to_thread  # deliveries' database calls never hold up the loop
    catch_up = CatchUp()
    if scan_in == "process" or (scan_in == "auto" and shares_database(db.url)):
        worker: ScanWorker | ScanProcess = ScanProcess(config, db.url, log_secrets(config, db),
                                                       source=config_source)
    else:
        worker = ScanWorker()
    log.info("scans run in %s", "a process of their own" if isinstance(worker, ScanProcess)
             else "a thread of their own")
    scheduler = make_scheduler(bot, after_scan=lambda: (catch_up.done(), wake()), worker=worker,
                               during_scan=wake)
    # log_config=None: uvicorn's records go to the process's log (bot.logs), credentials masked.
    stopped = False

    async def stop_work() -> None:
        """The scheduler, the background tasks and the scan worker, stopped once."""
        nonlocal stopped
        if stopped:
            return
        stopped = True
        starting.cancel()
        if scheduler.running:
            scheduler.shutdown(wait=False)
        for task in background:
            task.cancel()
        await worker.stop()
        gc.unfreeze()

    server = _Server(uvicorn.Config(create_app(bot, catch_up=catch_up, **app_options),
                                    host=host, port=port, log_level="info", log_config=None),
                     stop_work)
    # The network and the app live as long as the process: out of the collector's sight, a full
    # collection, which a scan's many objects bring on, no longer walks them (0.25 s at
    # Liuyang's size, every thread held meanwhile, the API's with them).
    gc.freeze()

    async def start_when_listening() -> None:
        while not server.started:
            await asyncio.sleep(0.01)  # uvicorn has no event for it
        scheduler.start()  # its first scan at once: the catch-up
        log.info("GridBot running with the %s transport", kind)
        wake()  # anything left in the outbox by the last run, for a transport in the background
        if kind == "simulator":
            await bot.deliver()  # the same, meanwhile (the leases keep each room's order)

    starting = asyncio.create_task(start_when_listening(), name="start-scheduler")
    if stop is not None:
        background.append(asyncio.create_task(_stop_when(stop, server), name="stop"))
    try:
        await server.serve()
    finally:
        await stop_work()


class _Server(uvicorn.Server):
    """uvicorn's server, stopping the bot's work as part of its own shutdown: after a SIGTERM or
    Ctrl-C uvicorn raises the signal again once `serve` returns (its default action then ends
    the process at once), so a scan in progress must reach its safe point before that."""

    def __init__(self, config: uvicorn.Config, stop_work: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._stop_work = stop_work

    async def shutdown(self, sockets=None) -> None:
        await super().shutdown(sockets)
        await self._stop_work()


async def _stop_when(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True  # what uvicorn does on Ctrl-C


async def _deliver_and_count(bot: Bot) -> tuple[int, int]:
    """Deliver what may go now; (how many went, how many still wait)."""
    sent = await bot.deliver()
    return sent, await asyncio.to_thread(pending_count, bot.db)
