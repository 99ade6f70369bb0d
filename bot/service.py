"""`gridbot run`: one process for the bot, its transport, the scheduler and the HTTP API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app
from bot.outbox import pending_count, take_back_dead_leases
from bot.runtime import Bot
from bot.simulator import Simulator
from bot.webhook_transport import DeliveryLoop, WebhookTransport
from flows.config import GridConfig
from flows.network import Network
from models.db import Database

log = logging.getLogger(__name__)

SCAN_EVERY = timedelta(minutes=1)


def make_scheduler(bot: Bot, after_scan: Callable[[], None] = lambda: None) -> AsyncIOScheduler:
    """The scheduler of the bot's process: every minute, run what is due (escalations, the
    rating window, digests) at the bot's clock. It runs once at start too, so what fell due
    while the bot was down goes at once; a scan still running when the next is due is not
    doubled (max_instances), and missed ones are not replayed one by one (coalesce)."""

    async def scan() -> None:
        try:
            await bot.tick(bot.clock())
        except Exception:
            log.exception("scheduled scan failed; the next one tries again")
        after_scan()

    scheduler = AsyncIOScheduler()
    scheduler.add_job(scan, IntervalTrigger(seconds=SCAN_EVERY.total_seconds()), id="scan",
                      max_instances=1, coalesce=True, misfire_grace_time=int(SCAN_EVERY.total_seconds()),
                      next_run_time=datetime.now(timezone.utc))
    return scheduler


async def serve(config: GridConfig, db: Database, host: str, port: int) -> None:
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
        delivery = DeliveryLoop(lambda: _deliver_and_count(bot))
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
    server = uvicorn.Server(uvicorn.Config(create_app(bot, **app_options), host=host, port=port,
                                           log_level="info"))
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
