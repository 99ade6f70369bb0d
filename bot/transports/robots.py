"""What the WeCom and DingTalk transports share: the route of a reply (a URL the platform hands
with each message, valid for a while: WeCom's `response_url`, DingTalk's `sessionWebhook`), group
robots paced per robot, a JSON POST whose answer says `errcode` 0 or why not, and a download that
stops reading at the size limit of its kind.

Both platforms answer a robot over its limit with HTTP 200 and an `errcode` (WeCom 45009, DingTalk
410100); any `errcode` but 0 keeps the post in the outbox to be tried again later, in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from bot.transport import OutgoingPost
from bot.transports.health import TransportHealth, masked_url
from bot.transports.webhook import RETRY_LATER
from models.tables import ReplyRoute

log = logging.getLogger(__name__)

SINGLE_ROOM = "single:"  # the room of a 1:1 chat with the bot: single:<member id>
GENERIC_TYPE = "application/octet-stream"  # says nothing of the content: sniffed instead


class PlatformRefused(RuntimeError):
    """The platform did not take the post (an HTTP error, or an `errcode` other than 0, e.g. a
    robot over its 20 a minute). Tried again later unless `refused_for_good` (a 4xx other than
    408, 425, 429)."""

    def __init__(self, message: str, *, status: int = 200, errcode: int | None = None) -> None:
        super().__init__(message)
        self.status, self.errcode = status, errcode
        self.refused_for_good = 400 <= status < 500 and status not in RETRY_LATER


class PlatformUnreachable(RuntimeError):
    """No answer from the platform (refused connection, timeout…): tried again later."""


class NoRoute(RuntimeError):
    """Nothing can carry the post: no valid reply URL and no group robot for its room, or a
    private post the bot cannot make. A dead letter at once, its reason saying what to set up."""

    refused_for_good = True


@dataclass(frozen=True)
class PendingReply:
    """Where the answer to one received message may go: `url` until `expires_at` (UTC), once
    when `once` (WeCom's response_url) or as often as needed (DingTalk's sessionWebhook)."""

    url: str
    room: str
    sender_id: str
    account_id: str
    expires_at: datetime
    once: bool = True

    def serves(self, post: OutgoingPost) -> bool:
        """Whether `post` goes where the message came from (its group, or its sender 1:1)."""
        if post.room is not None:
            return post.room == self.room
        return self.room.startswith(SINGLE_ROOM) and post.recipient == self.sender_id


_ROUTES = ReplyRoute.__table__
KEPT_REPLIES = 10_000   # reply routes kept in memory at most (the oldest go first)
PRUNE_EVERY = 500       # expired routes are deleted from the database every this many stored


class ReplyRoutes:
    """The reply routes (`PendingReply`) of one platform's received messages, by message id: in
    memory (the newest `limit`), and once `bind` gave a database, there too (table
    `reply_route`), so that answers written before a restart still go where the platform allows.
    A route used up (`forget`) or expired is deleted. A database that cannot be written only
    costs that: the route is kept in memory, a warning logged."""

    def __init__(self, platform: str, limit: int = KEPT_REPLIES) -> None:
        self.platform, self.limit = platform, limit
        self.routes: OrderedDict[str, PendingReply] = OrderedDict()
        self.db = None
        self._stored = 0

    def bind(self, db, now: datetime) -> int:
        """Keep routes in `db` from now on, and take back this platform's routes still valid at
        `now` (aware); returns how many were taken back."""
        self.db = db
        with db.engine.begin() as connection:
            connection.execute(delete(_ROUTES).where(_ROUTES.c.expires_at <= now))
            rows = connection.execute(select(_ROUTES).where(
                _ROUTES.c.platform == self.platform).order_by(_ROUTES.c.expires_at)).all()
        for row in rows[-self.limit:]:
            self._keep(row.message_id, PendingReply(row.url, row.room, row.sender_id,
                                                    row.account_id, row.expires_at, row.once))
        return min(len(rows), self.limit)

    def get(self, message_id: str | None) -> PendingReply | None:
        return self.routes.get(message_id) if message_id else None

    def __len__(self) -> int:
        return len(self.routes)

    async def remember(self, message_id: str, reply: PendingReply, now: datetime) -> None:
        """Keep `reply` as the route of `message_id` (a redelivery's replaces the earlier)."""
        self._keep(message_id, reply)
        if self.db is not None:
            await asyncio.to_thread(self._store, message_id, reply, now)

    async def forget(self, message_id: str) -> None:
        """Drop the route of `message_id` (used up, refused or expired)."""
        self.routes.pop(message_id, None)
        if self.db is not None:
            await asyncio.to_thread(self._delete, message_id)

    def _keep(self, message_id: str, reply: PendingReply) -> None:
        self.routes[message_id] = reply
        self.routes.move_to_end(message_id)
        while len(self.routes) > self.limit:
            self.routes.popitem(last=False)

    def _store(self, message_id: str, reply: PendingReply, now: datetime) -> None:
        try:
            with self.db.engine.begin() as connection:
                connection.execute(delete(_ROUTES).where(_ROUTES.c.message_id == message_id))
                connection.execute(insert(_ROUTES).values(
                    message_id=message_id, platform=self.platform, account_id=reply.account_id,
                    url=reply.url, room=reply.room, sender_id=reply.sender_id, once=reply.once,
                    expires_at=reply.expires_at))
                self._stored += 1
                if self._stored % PRUNE_EVERY == 0:
                    connection.execute(delete(_ROUTES).where(_ROUTES.c.expires_at <= now))
        except SQLAlchemyError as error:
            log.warning("the reply route of message %s is kept in memory only: %s", message_id,
                        type(error).__name__)

    def _delete(self, message_id: str) -> None:
        try:
            with self.db.engine.begin() as connection:
                connection.execute(delete(_ROUTES).where(_ROUTES.c.message_id == message_id))
        except SQLAlchemyError as error:
            log.warning("the used reply route of message %s is still stored: %s", message_id,
                        type(error).__name__)


def robot_pacing_key(platform: str, robot: str) -> str:
    """The outbox's pacing key of a robot (its credential hashed: never stored or shown)."""
    return f"{platform}-robot:" + hashlib.sha256(robot.encode("utf-8")).hexdigest()[:16]


async def post_json(client: httpx.AsyncClient, health: TransportHealth, url: str, body: dict,
                    post: OutgoingPost, platform: str, limit_code: int) -> None:
    """POST `body` to `url`; the outcome goes to `health`. Raises `PlatformUnreachable` when no
    answer came, `PlatformRefused` for an HTTP error or an `errcode` other than 0 (`limit_code`
    named as the frequency limit). The URL is masked in every message."""
    target = masked_url(url)
    try:
        response = await client.post(
            url, content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"})
    except httpx.HTTPError as error:
        reason = health.failed(f"{platform} {target} unreachable for post {post.id}: "
                               f"{type(error).__name__}: {error}")
        raise PlatformUnreachable(reason) from error
    if not response.is_success:
        error = PlatformRefused(f"{platform} {target} answered {response.status_code} to post "
                                f"{post.id}", status=response.status_code)
        health.failed(error)
        raise error
    try:
        answer = response.json()
        errcode = int(answer.get("errcode", 0))
    except (ValueError, AttributeError, TypeError):
        answer, errcode = {}, 0  # a 2xx without the usual JSON: taken as accepted
    if errcode != 0:
        note = " (frequency limit)" if errcode == limit_code else ""
        error = PlatformRefused(f"{platform} {target} answered errcode {errcode}{note} to post "
                                f"{post.id}: {str(answer.get('errmsg', ''))[:100]}",
                                errcode=errcode)
        health.failed(error)
        raise error
    health.succeeded()


@dataclass(frozen=True)
class Download:
    """What a limited download got: `data` (None when over the limit: nothing kept), `size` in
    bytes (the stated Content-Length when it was over, else the bytes read), `mime` as served
    (None for none or a generic type)."""

    data: bytes | None
    size: int
    mime: str | None


async def download_limited(client: httpx.AsyncClient, url: str, limit: int) -> Download:
    """GET `url`, reading at most `limit` bytes: a body announced or found larger is not kept
    (`data` None, its size for the refusal). Raises httpx.HTTPError (no answer, or an HTTP
    error status)."""
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        mime = response.headers.get("content-type", "").split(";")[0].strip() or None
        mime = None if mime == GENERIC_TYPE else mime
        stated = response.headers.get("content-length", "")
        if stated.isdigit() and int(stated) > limit:
            return Download(None, int(stated), mime)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                return Download(None, size, mime)
            chunks.append(chunk)
    return Download(b"".join(chunks), size, mime)
