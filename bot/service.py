"""`gridbot run`: one process for the bot, its transport, the scheduler and the HTTP API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app
from bot.logs import configure_logging as _configure_logging
from bot.outbox import pending_count, take_back_dead_leases
from bot.runtime import Bot
from bot.simulator import Simulator
from bot.webhook_transport import DeliveryLoop, WebhookTransport
from flows.config import GridConfig
from flows.credentials import mask_url, url_secrets
from flows.network import Network
from models.db import Database

log = logging.getLogger(__name__)

SCAN_EVERY = timedelta(minutes=1)


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


def make_scan(bot: Bot, after_scan: Callable[[], None] = lambda: None,
              clock: Callable[[], datetime] | None = None) -> Callable[[], Awaitable[None]]:
    """One scheduled run: messages due for another try, then what is due at `clock`'s time."""
    clock = clock or SchedulerClock(bot.clock, bot.config.policy.max_clock_jump)

    async def scan() -> None:
        now = clock()
        try:
            bot.dispatcher.retry_due(now)
        except Exception:
            log.exception("retrying stored messages failed; the next scan tries again")
        try:
            await bot.tick(now)
        except Exception:
            log.exception("scheduled scan failed; the next one tries again")
        after_scan()

    return scan


def make_scheduler(bot: Bot, after_scan: Callable[[], None] = lambda: None) -> AsyncIOScheduler:
    """The scheduler of the bot's process: every minute, try again the stored messages whose
    handling failed, and run what is due (escalations, the rating window, digests) at the
    bot's clock, guarded against jumps (SchedulerClock). It runs once at start too, so what
    fell due while the bot was down goes at once; a scan still running when the next is due is
    not doubled (max_instances), and missed ones are not replayed one by one (coalesce)."""
    scan = make_scan(bot, after_scan)
    scheduler = AsyncIOScheduler()
    scheduler.add_job(scan, IntervalTrigger(seconds=SCAN_EVERY.total_seconds()), id="scan",
                      max_instances=1, coalesce=True, misfire_grace_time=int(SCAN_EVERY.total_seconds()),
                      next_run_time=datetime.now(timezone.utc))
    return scheduler


def configure_logging(config: GridConfig, db: Database) -> None:
    """`gridbot run`'s log: INFO and above on stderr, with the transport's token and secret and
    the database's password masked wherever they appear (`bot.logs`)."""
    transport = config.transport
    _configure_logging([transport.wechaty_token(), transport.webhook_secret(),
                        *url_secrets(db.url)])


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
                config_path: Path | None = None) -> None:
    """Run the bot, its transport, the scheduler and the HTTP API until stopped; logs first
    what it runs (`startup_lines`). `config_path` is only shown."""
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
    else:
        from bot.wechaty_transport import WechatyTransport

        transport = WechatyTransport(endpoint=config.transport.endpoint,
                                     token=config.transport.wechaty_token())
        bot = Bot(config, db, transport, network)
        transport.attach(bot)
        background.append(asyncio.create_task(transport.run(), name="wechaty"))
        wake = lambda: None  # noqa: E731 - the supervisor delivers on each (re)connect
    if kind == "simulator":
        await bot.deliver()  # anything left in the outbox by the last run
    wake()  # the same, for a transport that delivers in the background
    scheduler = make_scheduler(bot, after_scan=wake)
    scheduler.start()
    # log_config=None: uvicorn's records go to the process's log (bot.logs), credentials masked.
    server = uvicorn.Server(uvicorn.Config(create_app(bot, **app_options), host=host, port=port,
                                           log_level="info", log_config=None))
    log.info("GridBot running with the %s transport", kind)
    try:
        await server.serve()
    finally:
        scheduler.shutdown(wait=False)
        for task in background:
            task.cancel()


async def _deliver_and_count(bot: Bot) -> tuple[int, int]:
    """Deliver what may go now; (how many went, how many still wait)."""
    sent = await bot.deliver()
    return sent, pending_count(bot.db)
