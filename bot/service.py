"""`gridbot run`: one process for the bot, its transport and the HTTP API."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app
from bot.runtime import Bot
from bot.simulator import Simulator
from flows.config import GridConfig
from flows.network import Network
from models.db import Database

log = logging.getLogger(__name__)


def make_transport(config: GridConfig, network: Network):
    if config.transport.kind == "simulator":
        return Simulator(network)
    raise SystemExit(f"transport kind {config.transport.kind!r} is not available in this version")


SCAN_EVERY = timedelta(minutes=1)


def make_scheduler(bot: Bot) -> AsyncIOScheduler:
    """The scheduler of the bot's process: every minute, run what is due (escalations, the
    rating window, digests) at the bot's clock. It runs once at start too, so what fell due
    while the bot was down goes at once; a scan still running when the next is due is not
    doubled (max_instances), and missed ones are not replayed one by one (coalesce)."""

    async def scan() -> None:
        try:
            await bot.tick(bot.clock())
        except Exception:
            log.exception("scheduled scan failed; the next one tries again")

    scheduler = AsyncIOScheduler()
    scheduler.add_job(scan, IntervalTrigger(seconds=SCAN_EVERY.total_seconds()), id="scan",
                      max_instances=1, coalesce=True, misfire_grace_time=int(SCAN_EVERY.total_seconds()),
                      next_run_time=datetime.now(timezone.utc))
    return scheduler


async def serve(config: GridConfig, db: Database, host: str, port: int) -> None:
    network = Network(config)
    transport = make_transport(config, network)
    bot = Bot(config, db, transport, network)
    if isinstance(transport, Simulator):
        transport.attach(bot)
    await bot.deliver()  # anything left in the outbox by the last run
    scheduler = make_scheduler(bot)
    scheduler.start()
    server = uvicorn.Server(uvicorn.Config(create_app(bot), host=host, port=port, log_level="info"))
    log.info("GridBot running with the %s transport", config.transport.kind)
    try:
        await server.serve()
    finally:
        scheduler.shutdown(wait=False)
