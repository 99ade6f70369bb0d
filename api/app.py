"""The HTTP API: health, the operators' read API scoped by token, and the webhook transport."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from api import (actions, attachments, circulars, dashboard, dashboard_circulars, overview,
                 rates, stand_ins, tickets)
from api.csrf import CsrfProtect
from api.limits import BodySizeLimit
from api.webhook import webhook_router
from bot.inbox import inbox_health
from bot.outbox import dead_letter_count
from bot.readiness import CatchUp, write_heartbeat
from bot.runtime import Bot
from models.subtrees import sync_network
from flows.credentials import mask_credentials, url_secrets


def create_app(bot: Bot, *, webhook_secret: str | None = None,
               on_message: Callable[[], None] = lambda: None,
               catch_up: CatchUp | None = None,
               routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The app; with a webhook secret it also takes messages at `POST /webhook/messages`. With
    `catch_up` (`gridbot run`), `/readyz` says whether the first scan after start is done.
    `routers`: a transport's own callbacks (WeCom's `/wecom/{account}/callback`)."""
    # FastAPIOffline serves the Swagger UI and ReDoc assets from the package, not a CDN: /docs
    # works where the office network reaches no CDN.
    app = FastAPIOffline(title="GridBot API", summary="网格小助手 operators' API",
                  description="Every endpoint under /api needs a bearer token from "
                              "`gridbot token create`; it sees and acts only inside its node's "
                              "subtree, and anything outside is 404.")
    app.state.bot = bot
    # Outermost last: a body is counted before the CSRF check reads a form or a route parses it.
    app.add_middleware(CsrfProtect)
    app.add_middleware(BodySizeLimit, max_bytes=bot.config.api.max_request_bytes)
    app.include_router(tickets.router)
    app.include_router(attachments.router)
    app.include_router(actions.router)
    app.include_router(overview.router)
    app.include_router(rates.router)
    app.include_router(stand_ins.router)
    app.include_router(circulars.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard_circulars.router)
    if webhook_secret:
        app.include_router(webhook_router(bot, webhook_secret, on_message))
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:  # on the loop: no worker thread to wait for
        return {"status": "ok", "transport": bot.config.transport.kind}

    @app.get("/readyz", summary="The database takes a write and the transport is not failing",
             responses={503: {"description": "Not ready; the body says what is missing"}})
    def readyz():
        """Ready when a write commits (a heartbeat row: a read-only database or a full disk
        is not ready) and the transport is not failing (`bot.transports.health`): not ready once
        every try to reach the chat service (a post to the webhook's callback, a connection to
        the wechaty gateway) has failed for `transport.unready_after` (default 5 min), and for
        wechaty before its first login; a shorter blip leaves it ready, and the next success
        makes it ready at once. `dead_letters` counts the posts set aside (`gridbot outbox
        dead`), `dead_messages` the received messages set aside after their last failed try
        (`gridbot inbox dead`); they do not make the bot unready. Under `gridbot run`,
        `catch_up` is `running` while the first scan after start (what fell due while the bot
        was down) runs, then `done`; it does not make the bot unready either: messages and
        requests are served meanwhile. `/api/transport` shows the transport's last success,
        last error and target."""
        problems = []
        dead = dead_messages = None
        try:
            write_heartbeat(bot.db, bot.clock())
            sync_network(bot.db, bot.network, bot.clock())   # what subtree views read
            dead = dead_letter_count(bot.db)
            dead_messages = inbox_health(bot.db)["dead"]
        except Exception as error:  # any driver error means not ready
            first_line = mask_credentials(str(error), url_secrets(bot.db.url)).splitlines()[0][:200]
            problems.append(f"database: {type(error).__name__}: {first_line}")
        health = getattr(bot.transport, "health", None)
        after = bot.config.transport.unready_after
        extra = {} if catch_up is None else {"catch_up": catch_up.state}
        if hasattr(health, "accounts"):  # several bot accounts: each ready or not on its own
            reasons = health.unready_reasons(after)
            for account, reason in reasons.items():
                problems.append(f"transport account {account} "
                                f"({health.accounts[account].target}): {reason}")
            extra["accounts"] = {account: "not ready" if account in reasons else "ready"
                                     for account in health.accounts}
        else:
            unready = health and health.unready_reason(after)
            if unready:
                problems.append(f"transport {health.target}: {unready}")
        if problems:
            return JSONResponse({"status": "not ready", "detail": problems,
                                 "dead_letters": dead, "dead_messages": dead_messages,
                                 **extra}, status_code=503)
        return {"status": "ready", "dead_letters": dead, "dead_messages": dead_messages,
                **extra}

    return app
