"""The wechaty transport: the real `wechaty` Python client (0.10.7) talking to a puppet-service
gateway over gRPC, under a supervisor of our own.

In: each text message in a room (not private chats) becomes an `IncomingMessage` (a photo,
voice note, video, file or location as its `media`, downloaded with the client's FileBox API;
kept by its id when that fails) and goes to `bot.receive`, one at a time, in the order the gateway announced them. The bot's own posts
(talker = the login's contact id) come marked `from_bot`, so they are stored and never acted on.
A recall (message type Recalled, whose text is the id of the message taken back) comes as
`recalled_id`. WeChat passes a quote as text (`「name：quoted」` + a dashed line + the reply, or
appmsg XML); `flows.message_forms` reads it, for every transport alike.

Out: `send(post)` writes the post's text into its room, `@name`-prefixed for each mention with
the mention ids attached (what `Room.say` does), or to `post.recipient` for a private message.
While the gateway is not connected it raises, so the post stays in the outbox. A post the
gateway refuses for good (a room or contact it does not know, an argument it will never take:
`PostRefused`) is set aside by the outbox as a dead letter, and its room goes on.

The supervisor: the client's own `Wechaty.start()` swallows a lost connection, sleeps 60 s and
retries once, then gives up for good. Instead, `run()` drives the client's start-up steps itself
(`init_puppet`, `init_puppet_event_bridge`, `puppet.start()`, which returns or raises when the
event stream ends) with a fresh client per connection, notices a lost gateway (the stream ends or
fails, or it stays silent and a `ding` gets no answer), and tries again for ever with capped
exponential backoff. Messages sent in WeChat while the gateway was down are whatever the gateway
announces after; nothing is made up here. Each login calls `bot.deliver()`, so what the outbox
gathered meanwhile goes out, in order. `health` (`bot.transports.health.ConnectionHealth`)
shows the state (`/readyz`, `/api/transport`): connected or not, the last success (a login, a
post sent) and the last error (a gateway unreachable, a lost stream, a post that failed), with
the tries since; the token is scrubbed from every error kept.

Process-wide state in the client: the `Room`/`Contact`/`Tag` pools keep objects bound to the
puppet that loaded them, so they are emptied for each new connection (one transport per
process), and message ids are de-duplicated for the whole process (the bot de-duplicates by id
itself, in the database).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Iterator
from datetime import datetime, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from bot.transports import wechaty_compat as wx
from bot.transport import IncomingMessage, Media, OutgoingPost
from bot.transports.health import ConnectionHealth
from bot.transports.webhook import Backoff

log = logging.getLogger(__name__)

# What the puppet emits on its event stream (the names its `on()` takes); any of them shows the
# gateway alive.
_PUPPET_EVENTS = ("heartbeat", "dong", "error", "scan", "login", "logout", "ready", "message",
                  "friendship", "room-invite", "room-join", "room-leave", "room-topic")


# What a broken connection raises from a gRPC call (a refusal by the gateway is a GRPCError).
_LINK_ERRORS = (OSError, StreamTerminatedError, ProtocolError, asyncio.TimeoutError)


async def _within(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
        return True
    except asyncio.TimeoutError:
        return False


# gRPC answers that will not change on a retry: the post is refused for good.
_REFUSED_FOR_GOOD = frozenset({Status.NOT_FOUND, Status.INVALID_ARGUMENT,
                               Status.PERMISSION_DENIED, Status.OUT_OF_RANGE})


class PostRefused(RuntimeError):
    """The gateway refused the post for good (see `bot.outbox`: a dead letter)."""

    refused_for_good = True


class NotConnected(RuntimeError):
    """The gateway is not connected (or the account not logged in); the post stays in the outbox."""


# The message types read as media, and their kind (`bot.transport.Media`); a sticker
# (Emoticon) is chatter and stays unread.
MEDIA_KINDS = {wx.MessageType.MESSAGE_TYPE_IMAGE: "image", wx.MessageType.MESSAGE_TYPE_AUDIO: "voice",
               wx.MessageType.MESSAGE_TYPE_VIDEO: "video",
               wx.MessageType.MESSAGE_TYPE_ATTACHMENT: "file",
               wx.MessageType.MESSAGE_TYPE_LOCATION: "location"}


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class WechatyTransport:
    """A Transport over a wechaty puppet-service gateway. `attach(bot)` (or pass `bot`), then
    `await run()` until `stop()`."""

    def __init__(self, bot=None, *, endpoint: str, token: str, backoff: Backoff = Backoff(),
                 heartbeat_timeout: float = 120.0, connect_timeout: float = 5.0,
                 send_timeout: float = 20.0, name: str = "GridBot") -> None:
        """`endpoint` is the gateway as HOST:PORT, `token` its token (both always needed: without
        an endpoint the client asks a public discovery service, without a token it fails
        silently). After `heartbeat_timeout / 2` s without any event the gateway is sent a
        `ding`; when neither an event nor the ding's answer came for `heartbeat_timeout` s, it
        counts as lost. `connect_timeout` bounds the TCP check before each connection,
        `send_timeout` each post and each read of a message. `backoff` spaces the attempts to
        reconnect (1 s doubling to 60 s by default). `name` is the client's name."""
        host, _, port = (endpoint or "").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"the wechaty gateway as HOST:PORT expected, got {endpoint!r}")
        if not token:
            raise ValueError("the wechaty gateway's token is missing")
        self.bot = bot
        self.endpoint = endpoint
        self._host, self._port = host, int(port)
        self._token = token
        self._name = name
        self._backoff = backoff
        self._heartbeat_timeout = heartbeat_timeout
        self._connect_timeout = connect_timeout
        self._send_timeout = send_timeout
        self.target = endpoint  # HOST:PORT: nothing in it to mask
        # connected: the event stream is open and the account logged in; last_event_at: the
        # last event of any kind from the gateway (UTC); reconnects: logins after the first.
        self.health = ConnectionHealth(target=endpoint, secrets=(token,))
        self._client: wx.Wechaty | None = None    # the connected client, else None
        self._lost = asyncio.Event()               # set when the current connection is given up
        self._connected = asyncio.Event()          # set while logged in
        self._stopping = asyncio.Event()
        self._inbox: asyncio.Queue[str] = asyncio.Queue()  # announced message ids, in order
        self._alive_at = 0.0                       # loop time of the last sign of life
        self._idle = asyncio.Event()               # set while no message is being handled
        self._idle.set()
        self._logins = 0
        self._background: set[asyncio.Task] = set()

    def attach(self, bot) -> None:
        self.bot = bot

    # -- out ---------------------------------------------------------------------------------
    async def send(self, post: OutgoingPost) -> None:
        client = self._client
        if client is None or not self._connected.is_set():
            raise NotConnected(f"wechaty gateway {self.endpoint} not connected")
        try:
            await asyncio.wait_for(self._say(client, post), self._send_timeout)
        except GRPCError as error:
            if error.status in _REFUSED_FOR_GOOD:
                refused = PostRefused(
                    f"gateway {self.endpoint}: {error.status.name} {error.message or ''}".strip())
                self.health.failed(refused)
                raise refused from error
            self.health.failed(f"gateway {self.endpoint}: post {post.id}: {error!r}")
            raise
        except ValueError as error:  # a post with nowhere to go
            refused = PostRefused(str(error))
            self.health.failed(refused)
            raise refused from error
        except Exception as error:
            self.health.failed(f"gateway {self.endpoint}: post {post.id}: {error!r}")
            raise
        self.health.succeeded()

    async def _say(self, client: wx.Wechaty, post: OutgoingPost) -> None:
        # Not `room.say()`/`contact.say()`: after sending they fetch the sent message's payload,
        # and a failure there (a gateway that cannot give it yet, a connection lost just then)
        # would make a sent post look unsent, and the outbox would send it again. Here the one
        # MessageSendText call decides.
        if post.recipient:
            contact = client.Contact.load(post.recipient)
            await contact.ready()
            await client.puppet.message_send_text(conversation_id=contact.contact_id, message=post.text)
            return
        if not post.room:
            raise ValueError(f"post {post.id} has neither a room nor a recipient")
        room = client.Room.load(post.room)
        await room.ready()  # the bot is in that room: fails clearly otherwise
        text = post.text
        if post.mentions:
            names = [f"@{await self._mention_name(room, client.Contact.load(member))}"
                     for member in post.mentions]
            text = wx.AT_SEPARATOR.join(names) + " " + text  # as `Room.say` writes mentions
        await client.puppet.message_send_text(conversation_id=room.room_id, message=text,
                                              mention_ids=list(post.mentions))

    async def _mention_name(self, room, contact) -> str:
        """The name to write after `@`; a member the gateway does not know (a head outside this
        group) must not hold the post up: then the name from the network."""
        try:
            return await self._display_name(room, contact)
        except Exception as error:
            log.warning("no name for %s from the gateway (%r)", contact.contact_id, error)
            network = getattr(self.bot, "network", None)
            return (network.member_name(contact.contact_id) if network else None) or contact.contact_id

    @staticmethod
    async def _display_name(room, contact) -> str:
        """A member as the group shows them: their alias in the room, else their WeChat name."""
        await contact.ready()
        try:
            alias = await room.alias(contact)
        except Exception:  # not every gateway answers RoomMemberPayload
            log.debug("no room alias for %s", contact.contact_id, exc_info=True)
            alias = None
        return alias or contact.name or contact.contact_id

    # -- in ----------------------------------------------------------------------------------
    async def _read(self, client: wx.Wechaty, message_id: str) -> IncomingMessage | None:
        """The bot's view of one announced message; None for what the bot does not read."""
        message = client.Message.load(message_id)
        await message.ready()  # MessagePayload, then the talker's and the room's payloads
        room = message.room()
        kind = message.type()
        if room is None or kind not in (wx.MessageType.MESSAGE_TYPE_TEXT,
                                        wx.MessageType.MESSAGE_TYPE_RECALLED, *MEDIA_KINDS):
            return None
        talker = message.talker()
        # `msg.age()` is wrong in this client; `msg.date()` is naive local time.
        at = message.date().astimezone(timezone.utc) if message.payload.timestamp else _utc_now()
        if kind == wx.MessageType.MESSAGE_TYPE_RECALLED:
            recalled = (message.text() or "").strip()
            return IncomingMessage(id=message_id, room=room.room_id, sender_id=talker.contact_id,
                                   sender_name=await self._display_name(room, talker), text="",
                                   at=at, recalled_id=recalled or None) if recalled else None
        media = (await self._media(message, MEDIA_KINDS[kind]),) if kind in MEDIA_KINDS else ()
        return IncomingMessage(id=message_id, room=room.room_id, sender_id=talker.contact_id,
                               sender_name=await self._display_name(room, talker),
                               text="" if media else message.text(), at=at, media=media,
                               mention_ids=tuple(message.payload.mention_ids or ()),
                               # the bot's own post, echoed by the gateway: kept, not acted on
                               from_bot=talker.contact_id == client.puppet.login_user_id)

    @staticmethod
    async def _media(message, kind: str) -> Media:
        """A photo, voice note, video or file as the gateway hands it (the client's FileBox:
        `MessageImage` for a photo, `MessageFile` for the rest), its content when the box
        carries it (base64), else its URL or the message id as the media id; a location as the
        text the gateway gives for it (its address)."""
        if kind == "location":
            return Media("location", media_id=message.message_id,
                         label=(message.text() or "").strip()[:200] or None)
        try:
            box = await message.to_file_box()
        except Exception as error:  # noqa: BLE001 - the medium is kept by its id, never lost
            log.warning("the %s of message %s could not be downloaded (%s); its id is kept",
                        kind, message.message_id, type(error).__name__)
            return Media(kind, media_id=message.message_id)
        name = getattr(box, "name", None) or None
        content = getattr(box, "base64", None)
        if content:
            try:
                return Media(kind, media_id=message.message_id, filename=name,
                             data=base64.b64decode(content))
            except (binascii.Error, ValueError):
                log.warning("the %s of message %s came as bad base64; its id is kept", kind,
                            message.message_id)
        return Media(kind, media_id=getattr(box, "remoteUrl", None) or message.message_id,
                     filename=name)

    async def _consume(self) -> None:
        """Hands the announced messages to the bot one at a time, in order. A message whose
        read failed because the connection went is read again after the reconnect."""
        while True:
            self._idle.set()
            message_id = await self._inbox.get()
            self._idle.clear()
            incoming = None
            for _ in range(3):
                await self._connected.wait()
                client, lost = self._client, self._lost
                try:
                    incoming = await asyncio.wait_for(self._read(client, message_id), self._send_timeout)
                    break
                except Exception as error:
                    # The gateway's own refusal (no such message) is final; a broken connection
                    # is for the watchdog to judge: when it gives the connection up, the message
                    # is read again on the next one.
                    if not isinstance(error, _LINK_ERRORS) or not await _within(lost, self._heartbeat_timeout):
                        log.warning("message %s could not be read (%r); skipped", message_id, error)
                        break
                    log.info("connection lost while reading message %s; reading it after reconnecting",
                             message_id)
            else:
                log.warning("message %s: connection lost each time it was read; skipped", message_id)
            if incoming is None:
                continue
            try:
                await self.bot.receive(incoming)
            except Exception:
                log.exception("message %s: the bot failed on it", message_id)

    # -- the supervisor ----------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, and reconnect after each loss, until `stop()` (or cancellation)."""
        if self.bot is None:
            raise RuntimeError("attach a Bot to the wechaty transport before running it")
        self._stopping.clear()
        consumer = asyncio.create_task(self._consume(), name="wechaty-inbox")
        delays = self._delays()
        try:
            while not self._stopping.is_set():
                logins_before = self._logins
                try:
                    await self._session()
                except Exception:
                    log.exception("wechaty gateway %s: the client failed", self.endpoint)
                if self._stopping.is_set():
                    break
                if self._logins > logins_before:
                    delays = self._delays()  # it worked for a while: start the backoff again
                delay = next(delays)
                log.warning("wechaty gateway %s: trying again in %.1f s", self.endpoint, delay)
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except asyncio.TimeoutError:
                    pass
        finally:
            # A post cancelled while being sent stays taken (its lease) for minutes: let what
            # is under way end first (without a connection, it fails at once).
            busy = [task for task in self._background if not task.done()]
            if not self._idle.is_set():
                busy.append(asyncio.ensure_future(self._idle.wait()))
            if busy:
                await asyncio.wait(busy, timeout=self._send_timeout)
            consumer.cancel()
            for task in [*self._background, *busy]:
                task.cancel()
            self._set_health(connected=False)

    def stop(self) -> None:
        self._stopping.set()

    def _delays(self) -> Iterator[float]:
        return self._backoff.delays()

    async def _session(self) -> None:
        """One connection: from the TCP check to the loss of the event stream."""
        if not await self._reachable():
            return
        scheduler = AsyncIOScheduler()  # the client's plugin manager starts one at login
        client = wx.Wechaty(wx.WechatyOptions(
            name=self._name, puppet="wechaty-puppet-service",
            # A fresh PuppetOptions each time: the default one is shared and the client writes
            # into it. `port=0`: at login the client probes its plugin port (5000 by default)
            # and quietly skips the rest of the login when that port is taken.
            puppet_options=wx.PuppetOptions(end_point=self.endpoint, token=self._token),
            endpoint=self.endpoint, token=self._token, port=0, scheduler=scheduler))
        for pool in (wx.Room._pool, wx.Contact._pool, wx.Tag._pool):
            pool.clear()  # objects bound to the last connection's puppet, whose channel is closed
        stream: asyncio.Task | None = None
        self._lost = lost = asyncio.Event()
        try:
            await client.init_puppet()  # a new puppet, and Room/Contact/Message classes bound to it
            puppet = client.puppet
            # Ours first: pyee calls listeners in the order they were added.
            for event in _PUPPET_EVENTS:
                puppet.on(event, self._saw_event)
            puppet.on("login", lambda payload: self._on_login(client))
            puppet.on("ready", lambda payload: self._deliver_soon())
            puppet.on("logout", lambda payload: self._on_logout(client))
            puppet.on("message", self._on_message)
            await client.init_puppet_event_bridge(puppet)  # the client's own (scan QR code, logs)
            self._alive_at = asyncio.get_running_loop().time()
            stream = asyncio.create_task(puppet.start(), name="wechaty-events")  # Stop, Start, Event
            await self._watch(stream, puppet)
        except Exception as error:
            log.warning("wechaty gateway %s: connection failed: %r", self.endpoint, error)
            self.health.failed(f"gateway {self.endpoint}: connection failed: {error!r}")
        finally:
            self._client = None
            self._connected.clear()
            lost.set()
            self._set_health(connected=False)
            if stream is not None:
                stream.cancel()
                await asyncio.wait({stream}, timeout=self._connect_timeout)
                if stream.done() and not stream.cancelled():
                    stream.exception()  # seen (and logged by _watch)
            await self._dispose(client, scheduler)

    async def _reachable(self) -> bool:
        # The client checks with a blocking telnet connect (up to 3 s, the whole loop waits);
        # this one does not block, so it runs first.
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self._host, self._port),
                                               self._connect_timeout)
        except (OSError, asyncio.TimeoutError) as error:
            log.warning("wechaty gateway %s unreachable: %r", self.endpoint, error)
            self.health.failed(f"gateway {self.endpoint} unreachable: {error!r}")
            return False
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return True

    async def _watch(self, stream: asyncio.Task, puppet) -> None:
        """Returns when the event stream ends or fails, when the gateway stays silent, or at stop."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.create_task(self._stopping.wait())
        step = max(self._heartbeat_timeout / 8, 0.05)
        ding: asyncio.Task | None = None
        try:
            while True:
                await asyncio.wait({stream, stopping}, timeout=step, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():
                    return
                if stream.done():
                    error = None if stream.cancelled() else stream.exception()
                    why = f"event stream ended{f': {error!r}' if error else ''}"
                    log.warning("wechaty gateway %s: %s", self.endpoint, why)
                    self.health.failed(f"gateway {self.endpoint}: {why}")
                    return
                quiet = loop.time() - self._alive_at
                if quiet > self._heartbeat_timeout:
                    log.warning("wechaty gateway %s: silent for %.0f s; reconnecting", self.endpoint, quiet)
                    self.health.failed(f"gateway {self.endpoint}: silent for {quiet:.0f} s")
                    return
                if ding is not None and ding.done():
                    if ding.cancelled() or ding.exception() is not None:
                        error = None if ding.cancelled() else ding.exception()
                        log.warning("wechaty gateway %s: no answer to a ding: %r", self.endpoint, error)
                        self.health.failed(f"gateway {self.endpoint}: no answer to a ding: {error!r}")
                        return
                    # The gateway answered: alive, even if its puppet sends no `dong` event
                    # (which would count too). Not every gateway sends heartbeats.
                    self._alive_at = loop.time()
                    ding = None
                if quiet > self._heartbeat_timeout / 2 and ding is None:
                    ding = asyncio.create_task(asyncio.wait_for(puppet.ding("gridbot"),
                                                                self._heartbeat_timeout / 2))
        finally:
            stopping.cancel()
            if ding is not None:
                ding.cancel()
                if ding.done() and not ding.cancelled():
                    ding.exception()  # seen: the connection is given up anyway

    async def _dispose(self, client: wx.Wechaty, scheduler: AsyncIOScheduler) -> None:
        puppet = client._puppet  # noqa: SLF001 - `client.puppet` raises once it is gone
        try:
            # Removes the listeners and tells the gateway `Stop` (which fails when it is down).
            await asyncio.wait_for(client.stop(), self._connect_timeout)
        except Exception as error:
            log.debug("wechaty client stop: %r", error)
        if puppet is not None and puppet.channel is not None:
            puppet.channel.close()  # `stop()` leaves it open when the Stop call failed
            puppet.channel = None
        if scheduler.running:
            scheduler.shutdown(wait=False)

    # -- events (pyee calls these synchronously, in the event stream's order) -----------------
    def _saw_event(self, *args) -> None:
        self._alive_at = asyncio.get_running_loop().time()
        self.health.last_event_at = _utc_now()

    def _on_login(self, client: wx.Wechaty) -> None:
        self._logins += 1
        self._client = client
        self._connected.set()
        self.health.succeeded()
        self._set_health(connected=True, reconnects=max(self._logins - 1, 0))
        self._deliver_soon()

    def _on_logout(self, client: wx.Wechaty) -> None:
        if self._client is client:
            self._connected.clear()
            self.health.failed(f"gateway {self.endpoint}: the account logged out")
            self._set_health(connected=False)

    def _on_message(self, payload) -> None:
        self._inbox.put_nowait(payload.message_id)
        # The client's own handler (added after this one) skips ids it has seen, so it does not
        # fetch the message a second time for nothing.
        wx.SingleIdContainer.instance().exist(payload.message_id)

    def _deliver_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(), name="wechaty-deliver")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver(self) -> None:
        try:
            sent = await self.bot.deliver()
        except Exception:
            log.exception("delivering the outbox after connecting failed")
            return
        if sent:
            log.info("wechaty gateway %s: %d waiting post(s) delivered", self.endpoint, sent)

    def _set_health(self, connected: bool, reconnects: int | None = None) -> None:
        health = self.health
        reconnects = health.reconnects if reconnects is None else reconnects
        if (connected, reconnects) != (health.connected, health.reconnects):
            health.set_connected(connected)
            health.reconnects = reconnects
            log.info("wechaty transport %s: connected=%s reconnects=%d last_event_at=%s "
                     "last_error=%s", self.endpoint, connected, reconnects,
                     health.last_event_at.isoformat() if health.last_event_at else None,
                     health.last_error)
