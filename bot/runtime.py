"""The bot: a dispatcher, a transport and the outbox between them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from bot import circulars, digest_runs, rate_reports, sweeps
from bot.dispatch import Dispatcher
from bot.outbox import Offload, deliver_pending
from bot.transport import IncomingMessage, Transport
from flows.config import GridConfig
from flows.network import Network
from models.db import Database


log = logging.getLogger(__name__)

MAX_BATCH = 200  # messages acted on in one transaction


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
        self._arrived: list[tuple[IncomingMessage, asyncio.Future[None]]] = []
        self._worker: asyncio.Task[None] | None = None
        # How delivery runs its database calls: inline by default (`gridbot chat`, the tests);
        # `gridbot run` gives `asyncio.to_thread`, so they never hold up its event loop.
        self.offload: Offload | None = None

    async def receive(self, message: IncomingMessage) -> None:
        """Act on a message, then deliver what it wrote to the outbox (and anything older).

        Messages that arrive while the bot is busy wait and are then acted on together, in
        order of arrival (two commits for the lot, see `Dispatcher.handle_many`): a burst from
        thousands of groups costs far fewer round trips to the database. What fails for the
        lot is raised to each sender of it, so none takes an unstored message for a stored one.
        """
        done = asyncio.get_running_loop().create_future()
        self._arrived.append((message, done))
        if self._worker is None or self._worker.done():
            # A task of its own: a sender giving up waiting does not stop the others' batch.
            self._worker = asyncio.create_task(self._work_through_arrivals())
        await done

    async def _work_through_arrivals(self) -> None:
        await asyncio.sleep(0)  # let messages already on their way join the first batch
        while self._arrived:
            batch, self._arrived = self._arrived[:MAX_BATCH], self._arrived[MAX_BATCH:]
            try:
                self.dispatcher.handle_many([message for message, _ in batch])
                await self.deliver()
            except Exception as error:  # noqa: BLE001 - handed to every sender in the batch
                for _, waiting in batch:
                    if not waiting.done():
                        waiting.set_exception(error)
            else:
                for _, waiting in batch:
                    if not waiting.done():
                        waiting.set_result(None)

    async def tick(self, now: datetime) -> None:
        """Run what the scheduler runs at `now`, then deliver what it posted."""
        self.run_due(now)
        await self.deliver()

    def run_scan(self, now: datetime, stopping: Callable[[], bool] = lambda: False) -> None:
        """One scheduled scan's database work at `now` (aware): the stored messages due for
        another try (`Dispatcher.retry_due`), then what is due (`run_due`). A failure of either
        is logged, never raised: the next scan tries again. Blocking: `gridbot run` runs it in
        a scan worker (bot/service.py), never on its event loop."""
        try:
            self.dispatcher.retry_due(now)
        except Exception:
            log.exception("retrying stored messages failed; the next scan tries again")
        if stopping():
            return
        try:
            self.run_due(now, stopping)
        except Exception:
            log.exception("scheduled scan failed; the next one tries again")

    def run_due(self, now: datetime, stopping: Callable[[], bool] = lambda: False) -> None:
        """What falls due by `now`, written to the database with its posts (not sent): the
        escalations, the circulars due and their reminders, the rating window, the
        notices' ends, the departments' lateness, the digests and the monthly 通报. Blocking
        database work only, no transport: `gridbot run` runs it in a scan worker, a process or a
        thread of its own (bot/service.py). Once `stopping()` is true it stops at the next safe point
        (between two transactions of the escalations or the digests, or between two sweeps); what it left is
        still due at the next run."""
        sweeps.escalate_due(self.config, self.db, self.network, now, stopping)
        for sweep in (lambda: circulars.send_due(self.config, self.db, self.network, now),
                      lambda: circulars.remind_due(self.config, self.db, self.network, now),
                      lambda: sweeps.close_unrated(self.config, self.db, now),
                      lambda: sweeps.end_notices(self.config, self.db, self.network, now),
                      lambda: sweeps.tell_departments_late(self.config, self.db, self.network, now),
                      lambda: digest_runs.send_due_digests(self.config, self.db, self.network,
                                                           now, stopping),
                      lambda: rate_reports.send_due_reports(self.config, self.db, self.network,
                                                            now)):
            if stopping():
                return
            sweep()

    async def deliver(self) -> int:
        return await deliver_pending(self.db, self.transport, self.clock,
                                     self.config.transport.posts_per_room_per_minute,
                                     self.config.transport.dead_letter_after, self.offload)
