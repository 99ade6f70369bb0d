"""`gridbot run`: one process for the bot, its transport and the HTTP API."""

from __future__ import annotations

import logging

import uvicorn

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


async def serve(config: GridConfig, db: Database, host: str, port: int) -> None:
    network = Network(config)
    transport = make_transport(config, network)
    bot = Bot(config, db, transport, network)
    if isinstance(transport, Simulator):
        transport.attach(bot)
    await bot.deliver()  # anything left in the outbox by the last run
    server = uvicorn.Server(uvicorn.Config(create_app(bot), host=host, port=port, log_level="info"))
    log.info("GridBot running with the %s transport", config.transport.kind)
    await server.serve()
