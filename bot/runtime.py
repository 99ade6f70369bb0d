"""The bot: a dispatcher, a transport and the outbox between them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from bot import digest_runs, sweeps
from bot.dispatch import Dispatcher
from bot.outbox import deliver_pending
from bot.transport import IncomingMessage, Transport
from flows.config import GridConfig
from flows.network import Network
from models.db import Database


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Bot:
    def __init__(self, config: GridConfig, db: Database, transport: Transport,
                 network: Network | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.network = network or Network(config)
        self.db = db
        self.transport = transport
        self.clock = clock
        self.dispatcher = Dispatcher(config, db, self.network, clock)

    async def receive(self, message: IncomingMessage) -> None:
        """Act on a message, then deliver what it wrote to the outbox (and anything older)."""
        self.dispatcher.handle(message)
        await self.deliver()

    async def tick(self, now: datetime) -> None:
        """Run what the scheduler runs at `now`, then deliver what it posted."""
        sweeps.escalate_due(self.config, self.db, self.network, now)
        sweeps.close_unrated(self.config, self.db, now)
        digest_runs.send_due_digests(self.config, self.db, self.network, now)
        await self.deliver()

    async def deliver(self) -> int:
        return await deliver_pending(self.db, self.transport, self.clock)
