"""The webhook transport: any bridge (WeCom, a mini-program, a 12345 hotline) plugs in over HTTP.

In: `POST /webhook/messages` (see `api.webhook`), the JSON of a `gridbot chat` message line.
Out: each bot post is POSTed as JSON to `transport.callback_url`. Both directions carry
`X-GridBot-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body under the shared secret.
A post that does not get a 2xx stays in the outbox and is retried with capped exponential
backoff, unless the callback refuses it for good (a 4xx other than 408, 425 or 429: it becomes a
dead letter, see `bot.outbox`); the outbox's order is kept, so posts to a room arrive in the order they were written.
Each try's outcome goes to the transport's `health` (`bot.transports.health`: `/api/transport`,
`/readyz`); errors and log lines name the callback URL masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from bot.transport import OutgoingPost
from bot.transports.health import TransportHealth, masked_url, scrub_logger

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-GridBot-Signature"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return _PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_is_valid(secret: str, body: bytes, header: str | None) -> bool:
    # compare_digest: the time taken must not tell how much of a forged signature was right.
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip())


def post_body(post: OutgoingPost) -> bytes:
    """The JSON a callback receives for one post; `id` is stable across retries."""
    return json.dumps({"id": post.id, "room": post.room, "recipient": post.recipient,
                       "text": post.text, "mentions": list(post.mentions),
                       "reply_to": post.reply_to}, ensure_ascii=False).encode("utf-8")


# 4xx answers that say "not now" rather than "never": the post is tried again.
RETRY_LATER = frozenset({408, 425, 429})


class CallbackRefused(RuntimeError):
    """The callback did not answer 2xx. A 4xx other than `RETRY_LATER` refuses the post for
    good (the outbox sets it aside as a dead letter and the room goes on); any other answer
    leaves it in the outbox to be tried again."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.refused_for_good = 400 <= status < 500 and status not in RETRY_LATER


class CallbackUnreachable(RuntimeError):
    """No answer from the callback (refused connection, timeout, bad TLS…): the post stays in
    the outbox and is tried again."""


class WebhookTransport:
    """A Transport that POSTs each post to the callback URL, signed. `health` keeps how the
    callback is doing (`bot.transports.health`); `target` is the callback URL masked, as every
    log line and error message names it."""

    def __init__(self, callback_url: str, secret: str, *, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None,
                 health: TransportHealth | None = None) -> None:
        """`timeout` bounds each POST, in seconds. Raises nothing: a bad URL fails each send."""
        self.callback_url = callback_url
        self.secret = secret
        self.target = masked_url(callback_url)
        self.health = health or TransportHealth()
        self.health.target = self.target
        self.health.secrets = (secret,)
        scrub_logger("httpx", [secret])  # httpx logs each request's URL, credentials and all
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def send(self, post: OutgoingPost) -> None:
        """POST the post; raises `CallbackUnreachable` when no answer came, `CallbackRefused`
        for an answer other than 2xx (both name the masked URL). Each outcome goes to `health`."""
        body = post_body(post)
        try:
            response = await self._client.post(
                self.callback_url, content=body,
                headers={"Content-Type": "application/json; charset=utf-8",
                         SIGNATURE_HEADER: sign(self.secret, body)})
        except httpx.HTTPError as error:
            # httpx's messages may carry the URL itself: masked like the rest.
            reason = self.health.failed(f"callback {self.target} unreachable for post {post.id}: "
                                        f"{type(error).__name__}: {error}")
            raise CallbackUnreachable(reason) from error
        if not response.is_success:
            error = CallbackRefused(f"callback {self.target} answered {response.status_code} "
                                    f"to post {post.id}", response.status_code)
            self.health.failed(error)
            raise error
        self.health.succeeded()

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True)
class Backoff:
    first: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(seconds=60)

    def delays(self):
        """1 s, 2 s, 4 s, … up to the cap, for ever."""
        delay = self.first
        while True:
            yield delay.total_seconds()
            delay = min(delay * 2, self.cap)


class DeliveryLoop:
    """Keeps the outbox flowing: delivers when woken, and while posts are still pending tries
    again after a backoff delay. The delay grows while nothing goes out (the callback is down,
    the rooms are paced or held elsewhere) and starts over after a run that sent something; a
    wake (a new message) cuts the wait short, down to the first delay, so a new reply never
    waits out a long backoff.
    `deliver` returns how many posts are still pending, or (sent, pending)."""

    def __init__(self, deliver: Callable[[], Awaitable[int | tuple[int, int]]],
                 backoff: Backoff = Backoff(), target: str = "") -> None:
        """`target` (masked) names where the posts go in the retry log lines."""
        self._deliver = deliver
        self._backoff = backoff
        self._target = target
        self._wake = asyncio.Event()
        self.retries = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            delays = self._backoff.delays()
            while True:
                self._wake.clear()
                try:
                    result = await self._deliver()
                    sent, pending = result if isinstance(result, tuple) else (0, result)
                except Exception:
                    log.warning("delivery to %s failed; retrying", self._target or "the chat service",
                                exc_info=True)
                    sent, pending = 0, 1
                if pending == 0:
                    break
                if sent:
                    delays = self._backoff.delays()
                self.retries += 1
                delay = next(delays)
                log.info("%d post(s) wait for %s; next try in %.1f s", pending,
                         self._target or "the chat service", delay)
                # Posts written meanwhile go with the next try; a new message wakes it early,
                # though never sooner than the first delay (a flood of messages while the
                # callback is down does not become a flood of tries).
                started = asyncio.get_running_loop().time()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                rest = self._backoff.first.total_seconds() - (
                    asyncio.get_running_loop().time() - started)
                if rest > 0:
                    await asyncio.sleep(rest)
