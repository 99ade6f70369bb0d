"""The bot on a chat platform's transport as `gridbot run` wires it, for the platform tests
(WeCom's callback and long connection, DingTalk's Stream mode): the transport attached, the
messages the dispatcher handled recorded in `seen`, the transport's own loop run when it has one."""

from __future__ import annotations

import asyncio

from bot.runtime import Bot


class PlatformBot:
    def __init__(self, config, db, network, clock, transport, *, run: bool) -> None:
        self.transport = transport
        self.bot = Bot(config, db, transport, network, clock=clock)
        transport.attach(self.bot)   # as gridbot run does: reply routes kept in the database
        self.seen = []   # the messages, once the dispatcher handled them
        handle = self.bot.dispatcher.handle

        def recording(message):
            posts = handle(message)
            self.seen.append(message)
            return posts

        self.bot.dispatcher.handle = recording
        self.task = asyncio.create_task(transport.run()) if run else None
        self.count = 0   # messages said, for their ids

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        await self.transport.close()
