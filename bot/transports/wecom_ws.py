"""A WeCom AI bot over the long connection (智能机器人 › 长连接): the bot opens a WebSocket to WeCom
itself (`transport.wecom.ws_url`, wss://openws.work.weixin.qq.com), so it needs no public
address, and it can write first: into a group, or to a member privately.

The frames, JSON text, each `{"cmd", "headers": {"req_id"}, "body"}` (WeCom's documentation of
the long connection, and its official SDKs, which speak the same frames):
- `aibot_subscribe` with `{"bot_id", "secret"}`, sent first; WeCom answers a frame with the same
  `req_id` and `errcode` 0 (else `errmsg` says why: a wrong secret);
- `ping` every `HEARTBEAT` seconds, each answered with its `req_id`; a connection that leaves
  `MISSED_PINGS` of them unanswered is taken for dead and opened anew;
- `aibot_msg_callback`: a member's message, its body the same JSON as a callback's (`msgid`,
  `chatid`, `chattype`, `from.userid`, `msgtype`…), an image or file with its own `aeskey`;
  `aibot_event_callback` (entering a chat, card clicks) is not used;
- `aibot_send_msg` with `{"chatid", "msgtype": "markdown", "markdown": {"content"}}`: a post the
  bot makes, into a group (its chat id) or to a member (their userid), answered by a frame with
  its `req_id` and `errcode`.
A lost connection is opened again after 1 s, doubling to a minute; each try is told to the
account's health. Messages are handed on one after another, in the order they came.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable

import websockets
from websockets.asyncio.client import connect

from bot.transports.health import TransportHealth, masked_url
from bot.transports.robots import PlatformRefused, PlatformUnreachable

log = logging.getLogger(__name__)

SUBSCRIBE, PING, CALLBACK, SEND = "aibot_subscribe", "ping", "aibot_msg_callback", "aibot_send_msg"
HEARTBEAT = 30.0      # seconds between pings
MISSED_PINGS = 2      # unanswered pings after which the connection is dead
ACK_TIMEOUT = 5.0     # seconds WeCom has to answer a subscription or a post
OPEN_TIMEOUT = 10.0   # seconds for opening the WebSocket
FIRST_WAIT, LONGEST_WAIT = 1.0, 60.0  # between tries to connect: doubling, capped


class SubscriptionRefused(RuntimeError):
    """WeCom did not take the bot id and secret."""


def req_id(cmd: str) -> str:
    """A frame's unique `req_id`: the command, the time in ms and 8 random hex digits."""
    return f"{cmd}_{int(time.time() * 1000)}_{os.urandom(4).hex()}"


class LongConnection:
    """One AI bot's long connection: `run()` keeps it, handing each message's body to
    `on_message` (awaited, in order); `send(chatid, body)` posts through it."""

    def __init__(self, account_id: str, bot_id: str, secret: str, url: str,
                 health: TransportHealth, on_message: Callable[[dict], Awaitable[None]]) -> None:
        self.account_id, self.bot_id, self.secret, self.url = account_id, bot_id, secret, url
        self.health, self.on_message = health, on_message
        self.ws = None
        self.subscribed = asyncio.Event()
        self._pending: dict[str, asyncio.Future] = {}
        self._missed = 0
        self._connected_once = False

    async def run(self) -> None:
        """Connect, subscribe and read for ever, opening the connection anew after a loss."""
        wait = FIRST_WAIT
        while True:
            try:
                async with connect(self.url, open_timeout=OPEN_TIMEOUT, ping_interval=None,
                                   max_size=2**22) as ws:
                    await self._subscribe(ws)
                    wait = FIRST_WAIT
                    await self._read(ws)
                reason = "the connection was closed"
            except (OSError, asyncio.TimeoutError, ValueError, SubscriptionRefused,
                    websockets.exceptions.WebSocketException) as error:
                reason = f"{type(error).__name__}: {error}"
            finally:
                self.ws = None
                self.subscribed.clear()
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(ConnectionError("the long connection was lost"))
                self._pending.clear()
            self.health.failed(f"WeCom long connection {masked_url(self.url)} (account "
                               f"{self.account_id}): {reason}")
            log.warning("WeCom account %s: long connection lost (%s); again in %.0f s",
                        self.account_id, self.health.last_error, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT)

    async def _subscribe(self, ws) -> None:
        ask = req_id(SUBSCRIBE)
        await ws.send(json.dumps({"cmd": SUBSCRIBE, "headers": {"req_id": ask},
                                  "body": {"bot_id": self.bot_id, "secret": self.secret}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), ACK_TIMEOUT))
        if (answer.get("headers") or {}).get("req_id") != ask:
            raise SubscriptionRefused("no answer to the subscription")
        if answer.get("errcode", 0) != 0:
            raise SubscriptionRefused(f"errcode {answer.get('errcode')}: "
                                      f"{str(answer.get('errmsg', ''))[:100]}")
        self.ws, self._missed = ws, 0
        if self._connected_once:
            self.health.reconnects += 1
        self._connected_once = True
        self.health.succeeded()
        self.subscribed.set()

    async def _read(self, ws) -> None:
        inbox: asyncio.Queue[dict] = asyncio.Queue()
        workers = [asyncio.create_task(self._heartbeat(ws)),
                   asyncio.create_task(self._hand_on(inbox))]
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    log.warning("WeCom account %s: a frame that is no JSON", self.account_id)
                    continue
                headers = frame.get("headers") or {}
                self.health.last_event_at = self.health.clock()
                if frame.get("cmd") == CALLBACK and isinstance(frame.get("body"), dict):
                    inbox.put_nowait(frame["body"])
                elif str(headers.get("req_id", "")).startswith(PING):
                    self._missed = 0
                elif headers.get("req_id") in self._pending:
                    future = self._pending.pop(headers["req_id"])
                    if not future.done():
                        future.set_result(frame)
            # Messages already read are handed on before the connection is given up.
            await inbox.join()
        finally:
            for worker in workers:
                worker.cancel()

    async def _hand_on(self, inbox: asyncio.Queue) -> None:
        while True:
            body = await inbox.get()
            try:
                await self.on_message(body)
            except Exception:
                log.exception("WeCom account %s: a message could not be handed on",
                              self.account_id)
            finally:
                inbox.task_done()

    async def _heartbeat(self, ws) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            if self._missed >= MISSED_PINGS:
                log.warning("WeCom account %s: %d pings unanswered", self.account_id,
                            self._missed)
                await ws.close()
                return
            self._missed += 1
            await ws.send(json.dumps({"cmd": PING, "headers": {"req_id": req_id(PING)}}))

    async def send(self, chatid: str, body: dict, what: str) -> None:
        """Post `body` (a markdown message) to `chatid` (a group's chat id or a member's userid).
        Raises `PlatformUnreachable` (no connection, no answer in time), `PlatformRefused` (an
        `errcode` other than 0); `what` names the post in the reason."""
        ws = self.ws
        if ws is None:
            raise PlatformUnreachable(self.health.failed(
                f"WeCom account {self.account_id}: no long connection for {what}"))
        ask = req_id(SEND)
        answer = asyncio.get_running_loop().create_future()
        self._pending[ask] = answer
        try:
            await ws.send(json.dumps({"cmd": SEND, "headers": {"req_id": ask},
                                      "body": {"chatid": chatid, **body}}, ensure_ascii=False))
            frame = await asyncio.wait_for(answer, ACK_TIMEOUT)
        except (ConnectionError, asyncio.TimeoutError,
                websockets.exceptions.WebSocketException) as error:
            raise PlatformUnreachable(self.health.failed(
                f"WeCom account {self.account_id}: {what} not answered over the long "
                f"connection: {type(error).__name__}: {error}")) from error
        finally:
            self._pending.pop(ask, None)
        errcode = int(frame.get("errcode", 0) or 0)
        if errcode != 0:
            error = PlatformRefused(f"WeCom account {self.account_id} answered errcode {errcode} "
                                    f"to {what}: {str(frame.get('errmsg', ''))[:100]}",
                                    errcode=errcode)
            self.health.failed(error)
            raise error
        self.health.succeeded()
