"""How a transport is doing, as `/api/transport` and `/readyz` show it and the logs name it.

Each transport that talks to something outside the process (the webhook's callback, the wechaty
gateway) keeps one `TransportHealth` and tells it the outcome of each try: a post delivered, a
connection made (`succeeded`), or a try that failed (`failed`, with the reason). What it keeps:
the target (masked), the last success and the last error (UTC times), the tries that failed since
the last success, and since when it has been failing.

Readiness (`unready_reason`): a transport is not ready once every try has failed for
`transport.unready_after` (default 5 minutes) since the first failure after the last success;
a shorter blip (a restarting bridge, one reconnect) leaves it ready, and the next success makes
it ready again at once. A transport that keeps a connection (`ConnectionHealth`, wechaty) is
also not ready until it first connects after start. Nothing tried means nothing failed: a
callback that is down while the bot has nothing to send stays unseen until a post is tried.

Everything shown is masked (`masked_url`, `scrubbed`): credentials in a URL (`user:pass@`),
token-like query parameters (`?token=`, `access_key=`, `sig=`…) and the transport's own secrets
become `***`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
MAX_ERROR_CHARS = 300  # a last error is cut to this many characters
MIN_SECRET_CHARS = 4  # shorter secrets are not searched for in messages

# Query parameter names whose values are secrets (matched anywhere in the lowercased name).
_SECRET_PARAM = re.compile(r"token|key|secret|pass|pwd|sig|auth|credential|session|ticket|code")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def masked_url(url: str) -> str:
    """`url` safe to show: `https://user:pw@host/p?token=abc&room=1` →
    `https://***@host/p?token=***&room=1` (user and password both hidden: a lone user part is
    often a token). A URL that does not parse is returned with any `…@` before the host hidden."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(name, MASK if _SECRET_PARAM.search(name.lower()) else value)
                               for name, value in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return re.sub(r"//[^/@\s]*@", f"//{MASK}@", url)


def scrubbed(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` (an error message) with every URL in it masked (`masked_url`) and each of
    `secrets` (a token, a shared secret) replaced by `***`; a secret shorter than
    `MIN_SECRET_CHARS` is left alone (masking every `k` would garble the text, not hide much)."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, MASK)
    return _URL.sub(lambda match: masked_url(match.group(0)), text)


class ScrubbingFilter(logging.Filter):
    """A logging filter that masks URLs (and `secrets`) in each record's message: put on a
    library's logger that writes the URLs it calls (httpx logs each request's URL at INFO)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = set(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrubbed(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def scrub_logger(name: str, secrets: Iterable[str] = ()) -> None:
    """Mask URLs and `secrets` in everything the logger `name` writes (one filter per logger;
    later secrets are added to it)."""
    logger = logging.getLogger(name)
    for existing in logger.filters:
        if isinstance(existing, ScrubbingFilter):
            existing.secrets.update(secrets)
            return
    logger.addFilter(ScrubbingFilter(secrets))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TransportHealth:
    """The health of a transport that tries per post (the webhook). Times are aware UTC
    datetimes from `clock` (the wall clock, not the bot's: a test's bot may run on a script's
    time). `connected` is whether the last try worked (true before the first one)."""

    target: str = ""                             # where it sends, masked (a URL, HOST:PORT)
    connected: bool = True
    last_event_at: datetime | None = None        # wechaty: the last event from the gateway
    reconnects: int = 0                          # wechaty: logins after the first one
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None                # short, masked
    attempts_since_success: int = 0              # failed tries since the last success
    failing_since: datetime | None = None        # the first failure after the last success
    secrets: tuple[str, ...] = field(default=(), repr=False)  # scrubbed from every error
    clock: Callable[[], datetime] = field(default=utc_now, repr=False, compare=False)

    def succeeded(self) -> None:
        """A try worked: a post was delivered (or a connection made)."""
        self.last_success_at = self.clock()
        self.attempts_since_success = 0
        self.failing_since = None
        self.connected = True

    def failed(self, error: BaseException | str) -> str:
        """A try failed; returns the reason as kept (masked, at most `MAX_ERROR_CHARS`), e.g.
        `CallbackRefused: callback http://bridge/cb answered 500 to post 7`."""
        now = self.clock()
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        text = " ".join(scrubbed(text, self.secrets).split())[:MAX_ERROR_CHARS]
        self.last_error, self.last_error_at = text, now
        self.attempts_since_success += 1
        if self.failing_since is None:
            self.failing_since = now
        self.connected = False
        return text

    def failing_for(self) -> timedelta | None:
        """How long every try has failed; None when the last one worked (or none was made)."""
        return None if self.failing_since is None else self.clock() - self.failing_since

    def unready_reason(self, unready_after: timedelta) -> str | None:
        """Why the transport is not ready, e.g. `failing for 6 min (since 2026-11-24T01:00:00Z,
        12 tries; last error: …)`; None while ready (a failure younger than `unready_after`
        included)."""
        failing = self.failing_for()
        if failing is None or failing < unready_after:
            return None
        return (f"failing for {_minutes(failing)} (since {_iso(self.failing_since)}, "
                f"{self.attempts_since_success} tries; last error: {self.last_error})")


@dataclass
class ConnectionHealth(TransportHealth):
    """The health of a transport that keeps a connection (wechaty): `connected` is the
    connection's state, set by the transport itself (`set_connected`); a failed post does not
    change it. Not ready before the first connection after start, and once no connection could
    be made (or kept) for `unready_after`."""

    connected: bool = False

    def succeeded(self) -> None:
        connected = self.connected
        super().succeeded()
        self.connected = connected

    def failed(self, error: BaseException | str) -> str:
        connected = self.connected
        text = super().failed(error)
        self.connected = connected
        return text

    def set_connected(self, connected: bool) -> None:
        self.connected = connected

    def unready_reason(self, unready_after: timedelta) -> str | None:
        """While connected: ready (the transport's watchdog gives up a connection that stops
        answering; a post the gateway refuses says nothing about the connection). Not connected:
        not ready before the first connection, and after `unready_after` without one."""
        if self.connected:
            return None
        if self.last_success_at is None:
            last = f"; last error: {self.last_error}" if self.last_error else ""
            return f"not connected yet ({self.attempts_since_success} tries{last})"
        return super().unready_reason(unready_after)


def _minutes(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") \
        if moment else "-"


class AccountsHealth:
    """The health of a transport holding several bot accounts (WeCom, DingTalk), each with its
    own `TransportHealth` (`accounts`, by account id), summed up in the shape `/api/transport`
    and `/readyz` read: connected while every account is; the latest success and error of any;
    the tries failed since each account's last success, added up; failing since the earliest of
    the accounts failing now. Not ready while any account is not (`unready_reason` names each)."""

    def __init__(self, accounts: dict[str, TransportHealth]) -> None:
        self.accounts = accounts

    @property
    def target(self) -> str:
        return "; ".join(health.target for health in self.accounts.values())

    @property
    def connected(self) -> bool:
        return all(health.connected for health in self.accounts.values())

    def _latest(self, name: str) -> datetime | None:
        times = [getattr(h, name) for h in self.accounts.values() if getattr(h, name)]
        return max(times) if times else None

    @property
    def last_event_at(self) -> datetime | None:
        return self._latest("last_event_at")

    @property
    def last_success_at(self) -> datetime | None:
        return self._latest("last_success_at")

    @property
    def last_error_at(self) -> datetime | None:
        return self._latest("last_error_at")

    @property
    def last_error(self) -> str | None:
        latest = self.last_error_at
        for account, health in self.accounts.items():
            if latest is not None and health.last_error_at == latest:
                return f"{account}: {health.last_error}"
        return None

    @property
    def reconnects(self) -> int:
        return sum(health.reconnects for health in self.accounts.values())

    @property
    def attempts_since_success(self) -> int:
        return sum(health.attempts_since_success for health in self.accounts.values())

    @property
    def failing_since(self) -> datetime | None:
        times = [h.failing_since for h in self.accounts.values() if h.failing_since]
        return min(times) if times else None

    def unready_reasons(self, unready_after: timedelta) -> dict[str, str]:
        """Each account that is not ready, with why (`TransportHealth.unready_reason`)."""
        reasons = {account: health.unready_reason(unready_after)
                   for account, health in self.accounts.items()}
        return {account: reason for account, reason in reasons.items() if reason}

    def unready_reason(self, unready_after: timedelta) -> str | None:
        """`account a: failing for 6 min (…); account b: …`, or None while every account is
        ready."""
        reasons = self.unready_reasons(unready_after)
        return "; ".join(f"account {a}: {r}" for a, r in reasons.items()) or None
