"""The WeCom transport (企业微信 and its government edition 政务微信): AI bots (智能机器人) in API
mode for what members write to the bot, group robots (群机器人) for what the bot posts unasked.

In, per account (`transport.wecom.accounts`, the callback URL `/wecom/{id}/callback`):
- `GET` is the URL check (验证URL有效性): `msg_signature`, `timestamp`, `nonce`, `echostr`; the
  answer is the decrypted `echostr` as plain text;
- `POST` is a message (智能机器人 › 接收消息), body `{"encrypt": …}`, signed and encrypted as
  `bot.transports.wecom_crypto` says (an empty receive id). A bad signature is 401 and nothing is
  stored. The plaintext JSON (`msgid`, `aibotid`, `chatid`, `chattype` single/group, `from.userid`,
  `response_url`, `msgtype` text/image/mixed/voice/file, `quote`) becomes an `IncomingMessage`:
  text as text (the bot's own `@name` left in: the dispatcher reads past a leading mention),
  images and files as `Media` (downloaded, then decrypted with the account's key, as the doc
  says their content is encrypted), voice as `Media` with the platform's transcript as the text,
  a quoted text as `quoted`. The callback is answered with an empty body (allowed: 可以选择直接
  回复空包); the bot's answers go through the outbox. In a group the AI bot hears only messages
  that @-mention it; images, voice and files reach it only in a 1:1 chat, and come with the room
  `single:<userid>` (no group of the network: kept, not acted on as commands).
An account with `bot_id` and `secret` instead works over the long connection
(`bot.transports.wecom_ws`): the same messages arrive down a WebSocket the bot opened, each
image or file with its own `aeskey`; it has no callback URL.

Out (`send`), for each post, in this order:
1. a reply to a message the bot received, within the hour its `response_url` is valid and not
   yet used (智能机器人 › 主动回复消息: one call per response_url): POSTed there as markdown;
2. anything through the long connection of the account (its room's; for a 1:1 chat or a
   private post, the account the member wrote to, else the first with one): `aibot_send_msg`
   as markdown to the group's chat id or the member's userid;
3. a post into a group: through that group's robot (`rooms[].robot_key`), as text with
   `mentioned_list` (member ids, WeCom userids) and `mentioned_mobile_list` (the mobiles of the
   members `transport.wecom.member_mobiles` names) (群机器人配置说明: text ≤ 2,048 bytes, 20
   messages a minute per robot);
4. anything else (a private post, a group with no robot) cannot go: `NoRoute`, refused for good
   (a dead letter whose reason says what to configure).
A robot answering `errcode` 45009 (frequency limit) or anything but 0 raises `PlatformRefused`: the
post stays in the outbox, its room waits, and it is tried again later, in order. The outbox paces
each robot to `transport.posts_per_room_per_minute` (≤ 20) through `pacing_key`.

Each account keeps its own `TransportHealth` (`accounts_health`); `health` sums them up for
`/readyz` and `/api/transport`. The response_urls are kept in memory and, once `attach` gave the
bot's database, in table `reply_route` until used or expired: after a restart, an answer to an
earlier message still goes through its response_url while that is valid.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response

from bot.chat_jsonl import unknown_room
from bot.transport import IncomingMessage, Media, OutgoingPost
from bot.transports.health import AccountsHealth, TransportHealth, masked_url, scrub_logger, utc_now
from bot.transports.robots import (SINGLE_ROOM, NoRoute, PendingReply, PlatformRefused,
                                   PlatformUnreachable, ReplyRoutes, download_limited, post_json,
                                   robot_pacing_key)
from bot.transports.wecom_crypto import CryptoError, WeComCrypto, decrypt_media, media_key
from bot.transports.wecom_ws import LongConnection
from flows.config import WECOM_TEXT_BYTES, MediaLimits, WeComConfig

log = logging.getLogger(__name__)

RESPONSE_URL_VALID = timedelta(hours=1)  # 主动回复消息: a response_url works for an hour, once
FREQUENCY_LIMIT = 45009                  # the robot's "api freq out of limit"
MEDIA_MAX_BYTES = 20 * 1024 * 1024       # an image or file larger than this is not downloaded
MEDIA_TIMEOUT = 5.0                      # seconds for a download, inside the callback's answer
# Raised by `send` (bot.transports.robots): tried again later, or (NoRoute) set aside.
WeComRefused, WeComUnreachable = PlatformRefused, PlatformUnreachable


class WeComAccountLink:
    """One AI bot account: its crypto (by callback) or its long connection (`connection`, set
    by `WeComTransport.run`), the robot keys of its rooms and its health."""

    def __init__(self, account, robot_url: str, ws_url: str) -> None:
        self.id = account.id
        self.account = account
        self.crypto = WeComCrypto(account.token, account.encoding_aes_key, "") \
            if not account.long_connection else None
        self.connection: LongConnection | None = None
        self.rooms = {room.room: room.robot_key for room in account.rooms}
        target = ws_url if account.long_connection else robot_url
        self.health = TransportHealth(target=f"{account.id} → {masked_url(target)}",
                                      secrets=tuple(filter(None, [account.token,
                                                                  account.encoding_aes_key,
                                                                  account.secret,
                                                                  *self.rooms.values()])))


def robot_body(post: OutgoingPost, mobiles: Mapping[str, str] | None = None) -> dict:
    """A group robot's text message (群机器人配置说明): a member @-mentioned by the mobile
    number `mobiles` gives them (`mentioned_mobile_list`), else by member id (`mentioned_list`,
    a WeCom userid)."""
    mobiles = mobiles or {}
    text: dict = {"content": post.text}
    by_id = [member for member in post.mentions if member not in mobiles]
    by_mobile = [mobiles[member] for member in post.mentions if member in mobiles]
    if by_id:
        text["mentioned_list"] = by_id
    if by_mobile:
        text["mentioned_mobile_list"] = by_mobile
    return {"msgtype": "text", "text": text}


def response_body(post: OutgoingPost) -> dict:
    """A reply through a response_url (主动回复消息): markdown, members @ as `<@userid>`."""
    mentions = "".join(f"<@{member}> " for member in post.mentions)
    return {"msgtype": "markdown", "markdown": {"content": mentions + post.text}}


class WeComTransport:
    """A Transport over WeCom AI bots and group robots (see the module's docstring).

    `clock` gives the time messages are stamped with and response_urls expire by (aware UTC);
    `client` the HTTP client (a test's, or one of its own); `media_limits` the largest image or
    file downloaded (`media.max_bytes`; never more than `MEDIA_MAX_BYTES`)."""

    def __init__(self, config: WeComConfig, *, client: httpx.AsyncClient | None = None,
                 clock: Callable[[], datetime] = utc_now, timeout: float = 10.0,
                 media_limits: MediaLimits = MediaLimits()) -> None:
        self.config = config
        self.clock = clock
        self.media_limits = media_limits
        self.accounts = {a.id: WeComAccountLink(a, config.robot_url, config.ws_url)
                         for a in config.accounts}
        self.account_of_room = {room: link for link in self.accounts.values()
                                for room in link.rooms}
        self.health = AccountsHealth({i: link.health for i, link in self.accounts.items()})
        self.replies = ReplyRoutes("wecom")
        self.bot = None
        self._wake: Callable[[], None] = lambda: None
        secrets = [s for link in self.accounts.values() for s in link.health.secrets]
        scrub_logger("httpx", secrets)  # httpx logs each URL it calls, robot keys and all
        self._client = client or httpx.AsyncClient(timeout=timeout)

    # -- out ------------------------------------------------------------------------------

    def pacing_key(self, destination: str) -> str:
        """The sender the outbox paces `destination` by: its group robot (20 a minute per
        robot), else the destination itself."""
        link = self.account_of_room.get(destination)
        key = link.rooms.get(destination) if link else None
        return robot_pacing_key("wecom", key) if key else destination

    async def send(self, post: OutgoingPost) -> None:
        """Deliver `post` (route: the module's docstring). Raises `NoRoute` (for good),
        `PlatformRefused` or `PlatformUnreachable` (tried again later)."""
        reply = self.replies.get(post.reply_to)
        if reply is not None and (reply.expires_at <= self.clock()
                                  or reply.account_id not in self.accounts):
            await self.replies.forget(post.reply_to)
            reply = None
        if reply is not None and reply.serves(post):
            link = self.accounts[reply.account_id]
            try:
                await self._post(link, reply.url, response_body(post), post)
            except PlatformRefused:
                # WeCom would not take it there (used, expired early): the next try goes by
                # the group's robot. A try with no answer keeps the response_url.
                await self.replies.forget(post.reply_to)
                raise
            await self.replies.forget(post.reply_to)  # a response_url takes one call
            return
        connected = self._long_connection_for(post, reply)
        if connected is not None:
            await self._send_over(connected, post)
            return
        if post.room is None or post.room.startswith(SINGLE_ROOM):
            raise NoRoute(f"post {post.id}: WeCom cannot write to member "
                          f"{post.recipient or post.room} privately (an AI bot by callback only "
                          f"answers what it is sent; one with a long connection can)")
        link = self.account_of_room.get(post.room)
        if link is None:
            raise NoRoute(f"post {post.id}: room {post.room} is served by no WeCom account "
                          f"(transport.wecom.accounts[].rooms)")
        key = link.rooms.get(post.room)
        if not key:
            raise NoRoute(f"post {post.id}: room {post.room} has no group robot "
                          f"(transport.wecom.accounts[{link.id}].rooms[].robot_key)")
        if len(post.text.encode("utf-8")) > WECOM_TEXT_BYTES:
            raise NoRoute(f"post {post.id}: longer than the {WECOM_TEXT_BYTES} bytes a group "
                          f"robot takes")
        url = str(httpx.URL(self.config.robot_url).copy_merge_params({"key": key}))
        await self._post(link, url, robot_body(post, self.config.member_mobiles), post)

    def _long_connection_for(self, post: OutgoingPost,
                             reply: PendingReply | None) -> WeComAccountLink | None:
        """The account whose long connection carries `post`: its room's account, else (a 1:1
        chat, a private post) the account the member wrote to, else the first account with a
        long connection; None when that account has none (a callback account)."""
        link = self.account_of_room.get(post.room) if post.room else None
        if link is None and reply is not None:
            link = self.accounts.get(reply.account_id)
        if link is None and (post.room is None or post.room.startswith(SINGLE_ROOM)):
            link = next(iter(self.long_connections), None)
        return link if link is not None and link.connection is not None else None

    async def _send_over(self, link: WeComAccountLink, post: OutgoingPost) -> None:
        """`post` through the account's long connection (aibot_send_msg): into its group by
        chat id, or to a member by userid (a 1:1 chat's, or a private post's recipient)."""
        if post.room is None:
            chatid = post.recipient or ""
        elif post.room.startswith(SINGLE_ROOM):
            chatid = post.room.removeprefix(SINGLE_ROOM)
        else:
            chatid = post.room
        await link.connection.send(chatid, response_body(post), f"post {post.id}")

    async def _post(self, link: WeComAccountLink, url: str, body: dict,
                    post: OutgoingPost) -> None:
        await post_json(self._client, link.health, url, body, post, "WeCom", FREQUENCY_LIMIT)

    async def close(self) -> None:
        await self._client.aclose()

    # -- in -------------------------------------------------------------------------------

    def attach(self, bot, wake: Callable[[], None] = lambda: None) -> None:
        """Hand what the long connections get to `bot`, `wake` its delivery; keep the
        response_urls in its database from now on (they outlive a restart), taking back those
        still valid."""
        self.bot, self._wake = bot, wake
        taken = self.replies.bind(bot.db, self.clock())
        if taken:
            log.info("WeCom: %d response_urls of messages before the restart still valid", taken)

    @property
    def long_connections(self) -> list[WeComAccountLink]:
        return [link for link in self.accounts.values() if link.account.long_connection]

    async def run(self) -> None:
        """Keep the long connection of each account that has one (`attach` first)."""
        for link in self.long_connections:
            link.connection = LongConnection(
                link.id, link.account.bot_id, link.account.secret, self.config.ws_url,
                link.health, lambda body, link=link: self._from_connection(link, body))
        await asyncio.gather(*(link.connection.run() for link in self.long_connections))

    async def _from_connection(self, link: WeComAccountLink, body: dict) -> None:
        message = await self.incoming(link, body)
        if message is None:
            return
        # The dispatcher does blocking database work: keep it off the event loop.
        await asyncio.to_thread(self.bot.dispatcher.handle, message)
        self._wake()

    async def incoming(self, link: WeComAccountLink, data: dict) -> IncomingMessage | None:
        """The message of a decrypted callback (智能机器人 › 接收消息), or None for what is no
        member's message (an event, a stream refresh). Images and files are downloaded and
        decrypted here; one that cannot be is handed on with its URL as `media_id`."""
        kind = data.get("msgtype")
        if kind not in ("text", "image", "mixed", "voice", "file"):
            return None
        message_id = str(data.get("msgid") or "")
        sender = str((data.get("from") or {}).get("userid") or "")
        if not message_id or not sender:
            return None
        if data.get("chattype") == "group" and data.get("chatid"):
            room = str(data["chatid"])
        else:
            room = SINGLE_ROOM + sender
        now = self.clock()
        texts: list[str] = []
        media: list[Media] = []
        if kind == "text":
            texts.append(str((data.get("text") or {}).get("content") or ""))
        elif kind == "image":
            media.append(await self._download(link, "image", data.get("image")))
        elif kind == "file":
            media.append(await self._download(link, "file", data.get("file")))
        elif kind == "voice":
            # The platform hands the voice over as its transcript only (no audio).
            texts.append(str((data.get("voice") or {}).get("content") or ""))
            media.append(Media(kind="voice"))
        elif kind == "mixed":
            for item in (data.get("mixed") or {}).get("msg_item") or []:
                if item.get("msgtype") == "text":
                    texts.append(str((item.get("text") or {}).get("content") or ""))
                elif item.get("msgtype") == "image":
                    media.append(await self._download(link, "image", item.get("image")))
        quote = data.get("quote") or {}
        quoted = None
        if quote.get("msgtype") == "text":
            quoted = str((quote.get("text") or {}).get("content") or "")
        response_url = data.get("response_url")
        if response_url:
            await self.replies.remember(message_id, PendingReply(
                str(response_url), room, sender, link.id, now + RESPONSE_URL_VALID), now)
        link.health.last_event_at = now
        return IncomingMessage(id=message_id, room=room, sender_id=sender, sender_name=sender,
                               text="\n".join(t for t in texts if t), at=now, quoted=quoted,
                               media=tuple(media), private=room.startswith(SINGLE_ROOM))

    async def _download(self, link: WeComAccountLink, kind: str, item: object) -> Media:
        """A medium's content from its `url`, decrypted with its own `aeskey` (the long
        connection) or else the account's key (a callback)."""
        item = item if isinstance(item, dict) else {}
        url, aeskey = item.get("url"), item.get("aeskey")
        if not url:
            return Media(kind=kind)
        url = str(url)
        limit = min(MEDIA_MAX_BYTES, self.media_limits.of(kind) or MEDIA_MAX_BYTES)
        try:
            got = await asyncio.wait_for(download_limited(self._client, url, limit),
                                         MEDIA_TIMEOUT)
            if got.data is None:
                # Over the limit: not read further; its size lets the dispatcher say so.
                log.info("WeCom %s from %s not downloaded: %d bytes, over %d", kind,
                         masked_url(url), got.size, limit)
                return Media(kind=kind, media_id=url, size=got.size)
            if aeskey:
                data = decrypt_media(media_key(str(aeskey)), got.data)
            elif link.crypto is not None:
                data = link.crypto.decrypt_media(got.data)
            else:
                raise CryptoError("no aeskey to decrypt it with")
        except (httpx.HTTPError, asyncio.TimeoutError, ValueError) as error:
            log.warning("WeCom %s from %s not downloaded: %s: %s", kind, masked_url(url),
                        type(error).__name__, error)
            return Media(kind=kind, media_id=url)
        return Media(kind=kind, media_id=url, data=data, size=len(data), mime=got.mime)


def wecom_router(bot, transport: WeComTransport, on_message: Callable[[], None]) -> APIRouter:
    """The AI bots' callbacks, one per account: `GET|POST /wecom/{account_id}/callback`.
    `on_message` wakes the delivery of the bot's answers."""
    router = APIRouter(tags=["wecom"])

    def link_of(account_id: str) -> WeComAccountLink:
        link = transport.accounts.get(account_id)
        if link is None or link.crypto is None:
            raise HTTPException(404, f"no WeCom account {account_id!r} taking callbacks")
        return link

    @router.get("/wecom/{account_id}/callback", response_class=PlainTextResponse,
                summary="WeCom's URL check (验证URL有效性)",
                responses={401: {"description": "Bad signature or echostr"}})
    def verify(account_id: str, msg_signature: str = Query(...), timestamp: str = Query(...),
               nonce: str = Query(...), echostr: str = Query(...)) -> PlainTextResponse:
        link = link_of(account_id)
        try:
            return PlainTextResponse(link.crypto.verify_url(msg_signature, timestamp, nonce,
                                                            echostr))
        except CryptoError as error:
            raise HTTPException(401, f"URL check refused: {error}") from None

    @router.post("/wecom/{account_id}/callback", summary="A message to a WeCom AI bot",
                 responses={401: {"description": "Bad signature or not this bot's"},
                            400: {"description": "Not a callback"}})
    async def receive(account_id: str, request: Request, msg_signature: str = Query(...),
                      timestamp: str = Query(...), nonce: str = Query(...)) -> Response:
        link = link_of(account_id)
        try:
            envelope = json.loads(await request.body())
            encrypted = str(envelope["encrypt"])
        except (ValueError, KeyError, TypeError):
            raise HTTPException(400, 'a JSON body {"encrypt": …} expected') from None
        try:
            plain = link.crypto.open_callback(msg_signature, timestamp, nonce, encrypted)
        except CryptoError as error:
            raise HTTPException(401, f"callback refused: {error}") from None
        try:
            data = json.loads(plain)
        except ValueError:
            raise HTTPException(400, "the decrypted callback is not JSON") from None
        message = await transport.incoming(link, data) if isinstance(data, dict) else None
        if message is not None:
            if transport.account_of_room.get(message.room) not in (None, link):
                log.warning("WeCom account %s got a message of room %s, served by account %s",
                            link.id, message.room, transport.account_of_room[message.room].id)
            # The dispatcher does blocking database work: keep it off the event loop.
            await asyncio.to_thread(bot.dispatcher.handle, message)
            on_message()
            problem = unknown_room(bot.network, message.room)
            if problem and not message.room.startswith(SINGLE_ROOM):
                # How an office learns a new group's chat id: the first @ of the bot there.
                log.warning("WeCom message %s (account %s): %s", message.id, link.id, problem)
        return Response(status_code=200)  # an empty answer: the replies go through the outbox

    return router
