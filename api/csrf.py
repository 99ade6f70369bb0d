"""CSRF defence of the dashboard's forms: asgi-csrf's double-submit token (a signed cookie and
the same value in a hidden form field, checked on every POST that carries cookies).

The token API (`/api/…`, a bearer token in a header) and the webhook (signed) are not cookie
authenticated and are left alone. The CSRF cookie gets `Secure` when the request came over HTTPS
(behind a proxy: uvicorn takes the scheme from X-Forwarded-Proto of the addresses in
FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import secrets

from asgi_csrf import asgi_csrf
from starlette.types import ASGIApp, Receive, Scope, Send

from flows import texts
from flows.environment import CSRF_SECRET_ENV
from flows.environment import secret as read_secret

SECRET_ENV = CSRF_SECRET_ENV   # shared by instances behind one address; else per process
UNPROTECTED = ("/api/", "/webhook/")


def served_over_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


def _skip(scope: Scope) -> bool:
    return scope["path"].startswith(UNPROTECTED)


async def _refused(scope: Scope, send: Send, message_id) -> None:
    body = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><p>{texts.CSRF_REFUSED}</p>'
            f'<p><a href="/">{texts.BACK_TO_DASHBOARD}</a></p></html>').encode("utf-8")
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class CsrfProtect:
    """ASGI middleware: the dashboard's POSTs must carry the form field `csrftoken`."""

    def __init__(self, app: ASGIApp, secret: str | None = None) -> None:
        secret = secret or read_secret(SECRET_ENV) or secrets.token_hex(32)
        options = dict(signing_secret=secret, skip_if_scope=_skip, cookie_samesite="Strict",
                       send_csrf_failed=_refused)
        self.plain = asgi_csrf(app, **options)
        self.secure = asgi_csrf(app, cookie_secure=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wrapped = self.secure if served_over_https(scope) else self.plain
        await wrapped(scope, receive, send)
