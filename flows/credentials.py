"""Credentials out of what is shown: the one place URLs, tokens and secrets are masked before
they are printed, logged or answered.

`mask_url` masks one URL: the password of `user:password@` and the values of query parameters
that carry a secret (`token`, `access_token`, `key`, `secret`, `password`, `signature`, …).
`mask_credentials` does the same to every URL and secret-looking `name=value` inside a text (a
log line, an exception's message, an access log's request line), and replaces literal secret
values it is given (a gateway token, a webhook secret) wherever they appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query parameters (and `name=value` pairs in free text) whose value is a credential.
SECRET_NAMES = frozenset({
    "token", "access_token", "refresh_token", "id_token", "authorization", "key", "api_key",
    "apikey", "secret", "client_secret", "password", "passwd", "pwd", "sig", "signature",
    "sign", "credential", "credentials",
})

# A URL with a scheme, up to the first blank, quote or bracket that cannot be part of it, and not
# ending in the punctuation of the sentence around it ("posts to https://x/?key=k, then …").
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`()\[\]{}]*[^\s'\"<>`()\[\]{}.,;:!?]")
# `name=value` where name is one of SECRET_NAMES, alone or after ?, & or ; (query strings,
# request lines without a scheme, libpq's key=value connection strings).
_PAIR = re.compile(r"(?<![A-Za-z0-9_\-])(" + "|".join(sorted(SECRET_NAMES, key=len, reverse=True))
                   + r")=([^\s&;'\"<>`]*[^\s&;'\"<>`.,:!?])", re.IGNORECASE)
# user:password@ with no scheme in front (as some drivers quote a connection target).
_USERINFO = re.compile(r"(?<=[\s'\"(])([A-Za-z0-9_.\-%]+):([^\s@/'\"]+)@(?=[A-Za-z0-9\[])")


def mask_url(url: str) -> str:
    """`url` with its password and secret query values as `***`; the rest kept as written.

    Works for database URLs (`postgresql+psycopg://u:p@host/db` →
    `postgresql+psycopg://u:***@host/db`) and web URLs (`https://x/send?key=abc` →
    `https://x/send?key=***`). A text that is not a URL comes back with only its secret
    `name=value` pairs masked. Never raises.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced [ in the host
        return _PAIR.sub(lambda m: f"{m.group(1)}={MASK}", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in SECRET_NAMES for name, _ in pairs):
            query = urlencode([(name, MASK if name.lower() in SECRET_NAMES else value)
                               for name, value in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def mask_credentials(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every credential in it masked: each URL through `mask_url`, each secret
    `name=value` pair (`token=…`, `password=…`, also without a URL around it), each
    `user:password@host`, and each of the literal `secrets` given (empty ones ignored; values
    shorter than 4 characters are left alone, as masking them would mask ordinary words).
    Never raises."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    text = _PAIR.sub(lambda m: m.group(0) if m.group(2) == MASK else f"{m.group(1)}={MASK}", text)
    return _USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)


def url_secrets(url: str | None) -> list[str]:
    """The password of `url` as written and decoded (`p%40ss` and `p@ss`), to hand
    `mask_credentials` as literal secrets where a driver may quote it alone; [] when it has
    none or does not parse."""
    try:
        password = urlsplit(url or "").password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []
