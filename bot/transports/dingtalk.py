"""The DingTalk transport (钉钉, and 浙政钉 built on it): enterprise robots (企业内部应用机器人) in
Stream mode for what members write to the bot, custom robots (自定义机器人) for group posts.

In, per account (`transport.dingtalk.accounts`): the official `dingtalk-stream` client keeps a
WebSocket to DingTalk (Stream mode: no public address, no callback URL), subscribed to the robot's
messages (topic `/v1.0/im/bot/messages/get`): in a group the messages that @ the robot, and 1:1
chats. Each becomes an `IncomingMessage`: `msgId`, the group's `conversationId` as the room
(`single:<staff id>` for a 1:1 chat), `senderStaffId`, `senderNick`, `createAt`; `text` as text,
`atUsers` (their staff ids, the robot itself left out) as `mention_ids`; a `picture`, the images of
a `richText`, an `audio` (with DingTalk's `recognition` as the text) and a `file` as `Media` whose
`media_id` is the message's `downloadCode`. Their content is downloaded before the message is
handed on (下载机器人接收消息的文件内容): the app's access token (`POST /v1.0/oauth2/accessToken`
with appKey and appSecret, kept until shortly before its `expireIn`), then `POST
/v1.0/robot/messageFiles/download` with `robotCode` and `downloadCode` gives a short-lived
`downloadUrl`, read up to the size limit of the medium's kind (`media.max_bytes`): a larger one is
not read further, and its size lets the dispatcher refuse it politely. All of a message's
downloads run at once and together take at most `MEDIA_TIMEOUT` seconds, so that the Stream
acknowledgement is not held up (DingTalk sends an unacknowledged message again after some
seconds; a redelivery is not acted on twice); one not done by then is handed on by its download
code alone. Each message is acknowledged once it is stored and handled.

Out (`send`), for each post:
1. a reply to a message the bot received, until its `sessionWebhookExpiredTime`: POSTed to that
   message's `sessionWebhook` (usable as often as needed until then; kept in table `reply_route`
   once `attach` gave the bot's database, so a restart does not lose it);
2. a post into a group: through the group's custom robot, `robot_url?access_token=…&timestamp=…
   &sign=…` with sign = Base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)) (自定义机器人安全
   设置, 加签), as text with `at.atUserIds`;
3. anything else cannot go: `NoRoute`, a dead letter saying what to configure.
A custom robot sends 20 messages a minute and is throttled for 10 minutes beyond: the outbox paces
each robot (`pacing_key`), and an answer with an `errcode` other than 0 (410100 when throttled)
keeps the post in the outbox, its room waiting, to be tried again in order.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import dingtalk_stream
import httpx
import requests
from dingtalk_stream import AckMessage, CallbackHandler, ChatbotMessage, Credential

from bot.transport import IncomingMessage, Media, OutgoingPost
from bot.transports.health import AccountsHealth, TransportHealth, masked_url, scrub_logger, utc_now
from bot.transports.robots import (SINGLE_ROOM, NoRoute, PendingReply, ReplyRoutes,
                                   download_limited, post_json, robot_pacing_key)
from flows.config import DingTalkConfig, MediaLimits

log = logging.getLogger(__name__)

FREQUENCY_LIMIT = 410100         # a custom robot over its 20 a minute
OPEN_TIMEOUT = 10.0              # seconds for opening a Stream connection
SESSION_WEBHOOK_VALID = timedelta(hours=1)  # when a message does not say (it normally does)
MEDIA_TIMEOUT = 5.0      # seconds for all of a message's downloads, before its acknowledgement
TOKEN_MARGIN = 300       # seconds before its expiry an access token is fetched anew
TOKEN_HEADER = "x-acs-dingtalk-access-token"


class DownloadFailed(RuntimeError):
    """DingTalk's open API did not give a medium's content (no token, no download URL)."""


def robot_sign(secret: str, timestamp_ms: int) -> str:
    """A custom robot's `sign` (加签): Base64 of HMAC-SHA256 under `secret` of
    `"{timestamp}\\n{secret}"`, the timestamp in milliseconds (the URL encoding is httpx's)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def text_body(post: OutgoingPost) -> dict:
    """A text message @-mentioning members by staff id: DingTalk shows the @ where the text
    holds `@<id>`, so each is written in front too."""
    mentions = "".join(f"@{member} " for member in post.mentions)
    body: dict = {"msgtype": "text", "text": {"content": mentions + post.text}}
    if post.mentions:
        body["at"] = {"atUserIds": list(post.mentions), "isAtAll": False}
    return body


class DingTalkAccountLink:
    """One robot account: its credentials, the custom robots of its rooms and its health."""

    def __init__(self, account, robot_url: str) -> None:
        self.id = account.id
        self.client_id, self.client_secret = account.client_id, account.client_secret
        self.robots = {room.room: (room.robot_token, room.robot_secret)
                       for room in account.rooms if room.robot_token and room.robot_secret}
        self.rooms = {room.room for room in account.rooms}
        secrets = [account.client_secret, *(s for pair in self.robots.values() for s in pair)]
        self.health = TransportHealth(target=f"{account.id} → {masked_url(robot_url)}",
                                      secrets=tuple(secrets))
        self.access_token: str | None = None
        self.token_until = 0.0   # time.monotonic() past which the token is fetched anew
        self.token_lock = asyncio.Lock()


class _StreamClient(dingtalk_stream.DingTalkStreamClient):
    """The SDK's client, its connection opened with a timeout (the SDK's call has none and runs
    on the event loop) and each try told to the account's health."""

    def __init__(self, link: DingTalkAccountLink, open_api: str) -> None:
        super().__init__(Credential(link.client_id, link.client_secret),
                         logger=logging.getLogger("dingtalk_stream.client"))
        self.link, self.open_api = link, open_api

    def open_connection(self):
        topics = [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]
        try:
            response = requests.post(self.open_api, timeout=OPEN_TIMEOUT, json={
                "clientId": self.credential.client_id,
                "clientSecret": self.credential.client_secret,
                "subscriptions": topics, "ua": "gridbot", "localIp": ""})
            response.raise_for_status()
            connection = response.json()
        except (requests.RequestException, ValueError) as error:
            self.link.health.failed(f"DingTalk Stream {masked_url(self.open_api)}: no "
                                    f"connection: {type(error).__name__}: {error}")
            return None
        self.link.health.succeeded()
        return connection


class _RobotMessages(CallbackHandler):
    """The robot-message topic of one account: each message handled, then acknowledged."""

    def __init__(self, transport: DingTalkTransport, link: DingTalkAccountLink) -> None:
        super().__init__()
        self.transport, self.link = transport, link

    async def process(self, callback):
        message = await self.transport.incoming(self.link, callback.data)
        if message is not None:
            if message.media:
                robot_code = str(callback.data.get("robotCode") or self.link.client_id)
                message = await self.transport.with_content(self.link, message, robot_code)
            await self.transport.hand_on(message)
        return AckMessage.STATUS_OK, "OK"


class DingTalkTransport:
    """A Transport over DingTalk robots (see the module's docstring). `attach(bot, wake)` before
    `run()`; `clock` stamps messages and expires session webhooks (aware UTC); `media_limits`
    the largest medium of each kind downloaded (`media.max_bytes`)."""

    def __init__(self, config: DingTalkConfig, *, client: httpx.AsyncClient | None = None,
                 clock: Callable[[], datetime] = utc_now, timeout: float = 10.0,
                 media_limits: MediaLimits = MediaLimits()) -> None:
        self.config = config
        self.clock = clock
        self.media_limits = media_limits
        self.stream_api = config.stream_url
        self.accounts = {a.id: DingTalkAccountLink(a, config.robot_url) for a in config.accounts}
        self.account_of_room = {room: link for link in self.accounts.values()
                                for room in link.rooms}
        self.health = AccountsHealth({i: link.health for i, link in self.accounts.items()})
        self.replies = ReplyRoutes("dingtalk")
        self.bot = None
        self._wake: Callable[[], None] = lambda: None
        secrets = [s for link in self.accounts.values() for s in link.health.secrets]
        scrub_logger("httpx", secrets)
        scrub_logger("dingtalk_stream.client", secrets)  # it logs its connection and ticket
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def attach(self, bot, wake: Callable[[], None] = lambda: None) -> None:
        """Hand received messages to `bot`, `wake` its delivery; keep the session webhooks in
        its database from now on (they outlive a restart), taking back those still valid."""
        self.bot, self._wake = bot, wake
        taken = self.replies.bind(bot.db, self.clock())
        if taken:
            log.info("DingTalk: %d session webhooks of messages before the restart still valid",
                     taken)

    async def run(self) -> None:
        """Keep each account's Stream connection (the SDK reconnects after a loss)."""
        clients = []
        for link in self.accounts.values():
            client = _StreamClient(link, self.stream_api)
            client.register_callback_handler(ChatbotMessage.TOPIC, _RobotMessages(self, link))
            clients.append(client)
        await asyncio.gather(*(client.start() for client in clients))

    async def hand_on(self, message: IncomingMessage) -> None:
        """Give a received message to the dispatcher (in a thread: it works the database), then
        wake the delivery of its answers."""
        await asyncio.to_thread(self.bot.dispatcher.handle, message)
        self._wake()

    # -- in -------------------------------------------------------------------------------

    async def incoming(self, link: DingTalkAccountLink, data: dict) -> IncomingMessage | None:
        """The message of a robot callback's data, or None when it is none."""
        if not isinstance(data, dict):
            return None
        kind = data.get("msgtype")
        message_id = str(data.get("msgId") or "")
        sender = str(data.get("senderStaffId") or data.get("senderId") or "")
        if not message_id or not sender or kind not in ("text", "picture", "richText", "audio",
                                                          "file"):
            return None
        if str(data.get("conversationType")) == "2" and data.get("conversationId"):
            room = str(data["conversationId"])
        else:
            room = SINGLE_ROOM + sender
        content = data.get("content") or {}
        texts: list[str] = []
        media: list[Media] = []
        if kind == "text":
            texts.append(str((data.get("text") or {}).get("content") or "").strip())
        elif kind == "picture":
            media.append(Media(kind="image", media_id=content.get("downloadCode")))
        elif kind == "richText":
            for item in content.get("richText") or []:
                if "text" in item:
                    texts.append(str(item["text"]).strip())
                elif item.get("downloadCode"):
                    media.append(Media(kind="image", media_id=item["downloadCode"]))
        elif kind == "audio":
            texts.append(str(content.get("recognition") or "").strip())
            duration = content.get("duration")
            media.append(Media(kind="voice", media_id=content.get("downloadCode"),
                               duration_s=round(int(duration) / 1000)
                               if str(duration or "").isdigit() else None))
        elif kind == "file":
            media.append(Media(kind="file", media_id=content.get("downloadCode"),
                               filename=content.get("fileName")))
        bot_id = data.get("chatbotUserId")
        mentions = tuple(str(user.get("staffId")) for user in data.get("atUsers") or []
                         if user.get("staffId") and user.get("dingtalkId") != bot_id)
        now = self.clock()
        created = data.get("createAt")
        at = datetime.fromtimestamp(int(created) / 1000, timezone.utc) \
            if str(created or "").isdigit() else now
        webhook = data.get("sessionWebhook")
        if webhook:
            expires = data.get("sessionWebhookExpiredTime")
            expires_at = datetime.fromtimestamp(int(expires) / 1000, timezone.utc) \
                if str(expires or "").isdigit() else now + SESSION_WEBHOOK_VALID
            await self.replies.remember(message_id, PendingReply(
                str(webhook), room, sender, link.id, expires_at, once=False), now)
        link.health.last_event_at = now
        return IncomingMessage(id=message_id, room=room, sender_id=sender,
                               sender_name=str(data.get("senderNick") or sender),
                               text="\n".join(t for t in texts if t), at=at,
                               mention_ids=mentions, media=tuple(media),
                               private=room.startswith(SINGLE_ROOM))

    async def with_content(self, link: DingTalkAccountLink, message: IncomingMessage,
                           robot_code: str) -> IncomingMessage:
        """`message` with the content of its media downloaded (all at once, `MEDIA_TIMEOUT`
        seconds at most each); a medium that could not be downloaded keeps its download code
        alone, one over its kind's limit its size alone."""
        media = await asyncio.gather(*(self._content(link, one, robot_code)
                                       for one in message.media))
        return replace(message, media=tuple(media))

    async def _content(self, link: DingTalkAccountLink, media: Media, robot_code: str) -> Media:
        if not media.media_id:
            return media
        limit = self.media_limits.of(media.kind)
        try:
            got = await asyncio.wait_for(self._download(link, media.media_id, robot_code,
                                                        limit), MEDIA_TIMEOUT)
        except (httpx.HTTPError, asyncio.TimeoutError, DownloadFailed, ValueError) as error:
            log.warning("DingTalk %s of account %s not downloaded: %s: %s", media.kind, link.id,
                        type(error).__name__, error)
            return media
        if got.data is None:
            log.info("DingTalk %s of account %s not downloaded: %d bytes, over %d", media.kind,
                     link.id, got.size, limit)
            return replace(media, size=got.size)
        return replace(media, data=got.data, size=got.size, mime=media.mime or got.mime)

    async def _download(self, link: DingTalkAccountLink, code: str, robot_code: str,
                        limit: int | None):
        """The content of download code `code`: its download URL asked of the open API with the
        app's token, then read (up to `limit` bytes). Raises DownloadFailed, httpx.HTTPError."""
        token = await self._access_token(link)
        response = await self._client.post(
            f"{self.config.api_url.rstrip('/')}/v1.0/robot/messageFiles/download",
            json={"downloadCode": code, "robotCode": robot_code}, headers={TOKEN_HEADER: token})
        if response.status_code in (401, 403):
            link.access_token = None  # revoked or expired early: a new one next time
        if not response.is_success:
            raise DownloadFailed(f"messageFiles/download answered {response.status_code}: "
                                 f"{response.text[:200]}")
        url = response.json().get("downloadUrl")
        if not url:
            raise DownloadFailed("messageFiles/download gave no downloadUrl")
        return await download_limited(self._client, str(url), limit or 2**62)

    async def _access_token(self, link: DingTalkAccountLink) -> str:
        """The app's access token (获取企业内部应用的accessToken), kept until `TOKEN_MARGIN`
        seconds before it expires. Raises DownloadFailed, httpx.HTTPError."""
        async with link.token_lock:
            if link.access_token and time.monotonic() < link.token_until:
                return link.access_token
            response = await self._client.post(
                f"{self.config.api_url.rstrip('/')}/v1.0/oauth2/accessToken",
                json={"appKey": link.client_id, "appSecret": link.client_secret})
            if not response.is_success:
                raise DownloadFailed(f"oauth2/accessToken answered {response.status_code}")
            answer = response.json()
            if not answer.get("accessToken"):
                raise DownloadFailed("oauth2/accessToken gave no accessToken")
            link.access_token = str(answer["accessToken"])
            link.token_until = time.monotonic() + int(answer.get("expireIn") or 0) - TOKEN_MARGIN
            return link.access_token

    # -- out ------------------------------------------------------------------------------

    def pacing_key(self, destination: str) -> str:
        """The sender the outbox paces `destination` by: its custom robot (20 a minute per
        robot), else the destination itself."""
        link = self.account_of_room.get(destination)
        robot = link.robots.get(destination) if link else None
        return robot_pacing_key("dingtalk", robot[0]) if robot else destination

    async def send(self, post: OutgoingPost) -> None:
        """Deliver `post` (route: the module's docstring). Raises `NoRoute` (for good),
        `PlatformRefused` or `PlatformUnreachable` (tried again later)."""
        reply = self.replies.get(post.reply_to)
        if reply is not None and (reply.expires_at <= self.clock()
                                  or reply.account_id not in self.accounts):
            await self.replies.forget(post.reply_to)
            reply = None
        if reply is not None and reply.serves(post):
            await post_json(self._client, self.accounts[reply.account_id].health, reply.url,
                            text_body(post), post, "DingTalk", FREQUENCY_LIMIT)
            return
        if post.room is None:
            raise NoRoute(f"post {post.id}: no way to write to member {post.recipient} "
                          f"privately (no session webhook of theirs is valid)")
        link = self.account_of_room.get(post.room)
        if link is None:
            raise NoRoute(f"post {post.id}: room {post.room} is served by no DingTalk account "
                          f"(transport.dingtalk.accounts[].rooms)")
        robot = link.robots.get(post.room)
        if robot is None:
            raise NoRoute(f"post {post.id}: room {post.room} has no custom robot (transport."
                          f"dingtalk.accounts[{link.id}].rooms[].robot_token, robot_secret)")
        token, secret = robot
        timestamp = int(time.time() * 1000)  # DingTalk's own clock checks it: the wall clock
        url = str(httpx.URL(self.config.robot_url).copy_merge_params(
            {"access_token": token, "timestamp": str(timestamp),
             "sign": robot_sign(secret, timestamp)}))
        await post_json(self._client, link.health, url, text_body(post), post, "DingTalk",
                        FREQUENCY_LIMIT)

    async def close(self) -> None:
        await self._client.aclose()

