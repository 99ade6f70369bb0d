"""The HTTP API. For now: health; tickets, dashboard and tokens come with the operators' issue."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from api.webhook import webhook_router
from bot.runtime import Bot


def create_app(bot: Bot, *, webhook_secret: str | None = None,
               on_message: Callable[[], None] = lambda: None) -> FastAPI:
    """The app; with a webhook secret it also takes messages at `POST /webhook/messages`."""
    app = FastAPI(title="GridBot API", summary="网格小助手 operators' API")
    if webhook_secret:
        app.include_router(webhook_router(bot, webhook_secret, on_message))

    @app.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "transport": bot.config.transport.kind}

    return app
