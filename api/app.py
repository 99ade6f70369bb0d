"""The HTTP API. For now: health; tickets, dashboard and tokens come with the operators' issue."""

from __future__ import annotations

from fastapi import FastAPI

from bot.runtime import Bot


def create_app(bot: Bot) -> FastAPI:
    app = FastAPI(title="GridBot API", summary="网格小助手 operators' API")

    @app.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "transport": bot.config.transport.kind}

    return app
