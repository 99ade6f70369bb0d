"""The scheduler's work in a process of its own (`gridbot run`): the escalation scan, the sweeps
and the digests run beside the event loop that serves the API and the transport, not in a
thread of it. A thread shares the interpreter's lock: while a scan of 50,000 due tickets runs,
the API's answers took 5–7 times as long; a process of its own leaves them as they are idle.

The process is started with `spawn` (never `fork` from a process with threads and an event
loop) and keeps its own `Bot` with its own engine for the whole run: the configuration is
handed over once, the database is opened by its URL. Handed over as the config file's bytes
when there is a file (the child builds it back through the cache of validated configs): a
pickled GridConfig of Liuyang's 33,000 nodes took the parent's interpreter lock for a second
or two at the first scan, and the API waited. It writes what is due and its posts to
the database, exactly as the thread did; the parent delivers them from its outbox. So it needs
a database both processes open: a SQLite file or a server (`shares_database`), not an
in-memory SQLite one.

Stopping: the parent sets an event the scan reads at its safe points (`Bot.run_due`); the child
ignores Ctrl-C (the terminal sends it to the whole process group) so it is never cut in the
middle of a transaction, and ends by itself once the parent is gone (killed with no chance to
say so), at the scan's next safe point. A child that dies is replaced at the next scan: what it left is still
due, and the unique keys of escalations and digests keep anything from being done twice.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from models.db import shares_database

if TYPE_CHECKING:
    from bot.runtime import Bot
    from bot.transport import OutgoingPost
    from flows.config import GridConfig

log = logging.getLogger(__name__)

__all__ = ["ScanProcess", "shares_database"]


class _NoTransport:
    """The scan process never sends: its posts wait in the outbox for the parent's transport."""

    async def send(self, post: OutgoingPost) -> None:  # pragma: no cover - never called
        raise RuntimeError("the scan process does not deliver posts")


_bot: Bot | None = None
_stopping = None  # the parent's multiprocessing.Event
_parent_gone = threading.Event()
_scanning = threading.Lock()
WATCH_EVERY = 0.5  # seconds between two looks for the parent
NICENESS = 10     # added to the scan process's nice value (POSIX `nice`): it yields the CPU to the API


def _watch_parent(parent: int) -> None:
    """End the child once its parent is gone (killed without a word): at once when no scan
    runs, else at the scan's next safe point (`_stop_now`), never in a transaction's middle."""
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY)
    _parent_gone.set()
    with _scanning:
        os._exit(0)


def _stop_now() -> bool:
    return _parent_gone.is_set() or (_stopping is not None and _stopping.is_set())


def _start(config: GridConfig | None, source: tuple[Path, bytes] | None, url: str,
           secrets: Iterable[str | None], stopping) -> None:
    """The child's start: its priority lowered by `NICENESS`, its log (credentials masked, as
    the parent's), its config (`config`, or loaded from `source`: the file and its bytes), its
    bot, its watch on the parent."""
    global _bot, _stopping
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Background work: where the cores are few and busy, the API and the transport go first.
    os.nice(NICENESS)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True,
                     name="gridbot-scan-parent").start()
    from bot.logs import configure_logging
    from bot.runtime import Bot
    from flows.network import Network
    from models.db import Database

    configure_logging(secrets)
    if config is None:
        from bot.config_loading import load_config

        path, raw = source
        config = load_config(path, transport=False, frozen=True, raw=raw)
    _stopping = stopping
    _bot = Bot(config, Database(url, migrate=False), _NoTransport(), Network(config))


def _scan(now: datetime) -> int:
    """One scan in the child (`Bot.run_scan`); returns the child's pid, for the record."""
    assert _bot is not None
    with _scanning:
        _bot.run_scan(now, _stop_now)
    return os.getpid()


class ScanProcess:
    """The scan worker of `gridbot run` as one child process (see the module's docstring); the
    same interface as `bot.service.ScanWorker`: `scan(bot, now)`, `stopping`, `stop()`.

    `config` is the running configuration, `source` the file and the bytes it was loaded from
    (handed to the child instead of `config` when given), `url` the database's, `secrets` what
    the child's log masks. Scans never overlap: one process, one at a time.
    """

    def __init__(self, config: GridConfig, url: str, secrets: Iterable[str | None] = (),
                 source: tuple[Path, bytes] | None = None) -> None:
        if not shares_database(url):
            raise ValueError("a scan process needs a database both processes can open "
                             "(a SQLite file or a server), not an in-memory one")
        self._context = multiprocessing.get_context("spawn")
        self._stopping = self._context.Event()
        self._arguments = (None if source else config, source, url,
                           tuple(s for s in secrets if s))
        self._executor = self._new_executor()
        self._running: Future | None = None
        self.pid: int | None = None  # the child's, once it ran a scan

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, mp_context=self._context, initializer=_start,
                                   initargs=(*self._arguments, self._stopping))

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def scan(self, bot: Bot, now: datetime) -> None:
        """One scan at `now` (aware) in the child; `bot` (the parent's) is not used: the child
        has its own. A child that died is logged and replaced for the next scan. Raises
        `asyncio.CancelledError` once stopping."""
        if self.stopping:
            raise asyncio.CancelledError("the scan process is stopping")
        future = self._executor.submit(_scan, now)
        self._running = future
        try:
            self.pid = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.error("the scan process died; a new one runs the next scan")
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()

    async def stop(self) -> None:
        """Let the scan in progress reach its next safe point and end the child; what was not
        done is still due at the next start."""
        self._stopping.set()
        running = self._running
        if running is not None and not running.done():
            log.info("waiting for the scan in progress to reach a safe point")
            await asyncio.wait([asyncio.wrap_future(running)])
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
