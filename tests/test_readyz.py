"""`/readyz` (issue 19, item 9): ready only when the database takes a write. A database opened
read-only, or one whose disk is full, is 503 with the reason; a healthy one is 200, on both
backends."""

from __future__ import annotations

import httpx
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError

from api.app import create_app
from bot.runtime import Bot
from bot.transports.simulator import Simulator
from models.db import Database, make_engine


async def readyz(config, network, db, clock) -> httpx.Response:
    bot = Bot(config, db, Simulator(network), network, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bot)),
                                 base_url="http://bot") as client:
        return await client.get("/readyz")


def read_only(db: Database, tmp_path) -> Database:
    """The same database, opened read-only (as after a restart on a read-only volume or with
    a read-only PostgreSQL role)."""
    database = Database(db.url, migrate=False)
    database.engine.dispose()
    if db.engine.dialect.name == "sqlite":
        path = db.url.removeprefix("sqlite:///")
        database.engine = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        database.engine = create_engine(
            db.url, connect_args={"options": "-c default_transaction_read_only=on"})
    return database


async def test_ready_when_a_write_commits(db, config, network, clock):
    response = await readyz(config, network, db, clock)
    assert response.status_code == 200
    assert response.json()["status"] == "ready" and response.json()["dead_letters"] == 0
    again = await readyz(config, network, db, clock)  # the heartbeat row is rewritten, not added
    assert again.status_code == 200


async def test_a_read_only_database_is_not_ready(db, config, network, clock, tmp_path):
    await readyz(config, network, db, clock)
    database = read_only(db, tmp_path)
    try:
        response = await readyz(config, network, database, clock)
    finally:
        database.dispose()
    assert response.status_code == 503
    [problem] = response.json()["detail"]
    assert problem.startswith("database:") and "read" in problem.lower()


async def test_a_full_disk_is_not_ready(db, config, network, clock):
    """Every write fails as it does when the disk is full (the driver's own error); reads work."""

    def full(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise OperationalError(statement, parameters, Exception("database or disk is full"))

    event.listen(db.engine, "before_cursor_execute", full)
    try:
        response = await readyz(config, network, db, clock)
    finally:
        event.remove(db.engine, "before_cursor_execute", full)
    assert response.status_code == 503
    assert "disk is full" in response.json()["detail"][0]
