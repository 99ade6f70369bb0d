"""The database: chosen by a URL, migrated by Alembic, used through short sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, Insert, Table, event
from sqlalchemy.engine import make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, create_engine

from flows.environment import DATABASE_URL_ENV
from flows.environment import secret as read_secret

DEFAULT_DATABASE_URL = "sqlite:///gridbot.sqlite3"  # a file in the working directory


def database_url(explicit: str | None = None) -> str:
    """`explicit`, else $GRIDBOT_DATABASE_URL (or its secret file), else the default SQLite file."""
    return explicit or read_secret(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _tune_sqlite(dbapi_connection, _record) -> None:
    # WAL lets readers work beside one writer; the busy timeout makes a second writer wait
    # instead of failing at once; SQLite checks foreign keys only when asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(engine: Engine | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "models:migrations")
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is there already."""
    command.upgrade(alembic_config(engine), revision)


class Database:
    """An engine plus the unit-of-work helper the bot and the API share."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = database_url(url)
        self.engine = make_engine(self.url)
        if migrate:
            upgrade(self.engine)

    @property
    def shown_url(self) -> str:
        """The URL as it may be printed or logged: the password as `***` (SQLAlchemy's own
        rendering)."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def insert_unless_present(self, table: Table, key: list[str]) -> Insert:
        """INSERT … ON CONFLICT (key) DO NOTHING, in this database's dialect: one statement
        where a look-up then an insert would take two and could still collide."""
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        return dialect.insert(table).on_conflict_do_nothing(index_elements=key)

    def dispose(self) -> None:
        self.engine.dispose()
