from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.runtime import Bot
from bot.simulator import Simulator
from flows.config import load_config
from flows.network import Network
from models.db import Database

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 24, 9, 0, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture(scope="session")
def config():
    return load_config(REPO / "config.yaml")


@pytest.fixture(scope="session")
def network(config):
    return Network(config)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
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
