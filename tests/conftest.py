from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from bot.runtime import Bot
from bot.transports.simulator import Simulator
from flows.config import load_config
from flows.network import Network
from models.db import Database
from pg_cluster import Cluster, MissingPrograms

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 24, 9, 0, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture(scope="session", autouse=True)
def config_cache_folder(tmp_path_factory):
    """The cache of validated configs (bot/config_loading.py) in a folder of the run's own, for
    the commands the tests run too, never the user's."""
    folder = tmp_path_factory.mktemp("cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def config():
    return load_config(REPO / "config.yaml")


@pytest.fixture(scope="session")
def network(config):
    return Network(config)


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL cluster for the whole run, started only when a test needs it."""
    try:
        cluster = Cluster()
    except MissingPrograms as missing:
        if os.environ.get("GRIDBOT_REQUIRE_POSTGRES"):
            pytest.fail(str(missing), pytrace=False)
        pytest.skip(f"{missing} — .ci/run installs it")
    url = cluster.start()
    yield url
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_schema(postgres_url):
    database = Database(postgres_url)  # migrated once for the run
    yield postgres_url
    database.dispose()


# Every test that uses a database runs on both backends; `-m sqlite` or `-m postgresql` picks one.
@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    else:
        database = Database(request.getfixturevalue("postgres_schema"), migrate=False)
        with database.engine.begin() as connection:  # each test starts empty, numbering at #1
            tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    database.dispose()


class Clock:
    """A clock the test moves by hand; nothing sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock():
    return Clock(START)


@pytest.fixture
def sim(config, network, db, clock):
    simulator = Simulator(network, clock=clock)
    simulator.attach(Bot(config, db, simulator, network, clock=clock))
    return simulator
