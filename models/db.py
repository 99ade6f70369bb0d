"""The database: chosen by a URL, migrated by Alembic, used through short sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, Float, Insert, Integer, Table, event, inspect, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from flows.credentials import mask_url
from flows.environment import DATABASE_URL_ENV
from flows.environment import secret as read_secret

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

DEFAULT_DATABASE_URL = "sqlite:///gridbot.sqlite3"  # a file in the working directory


class seconds_between(FunctionElement):
    """SQL expression: seconds from `earlier` to `later` (two time columns), as a float, on
    both backends; averages of waiting times are then one aggregate in the database."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


class whole_days_between(FunctionElement):
    """SQL expression: whole days from `earlier` to `later` (two time expressions), rounded
    down, as an integer, on both backends: a day's bucket of a trend is one GROUP BY."""

    type = Integer()
    inherit_cache = True
    name = "whole_days_between"


@compiles(whole_days_between, "sqlite")
def _days_sqlite(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    # CAST truncates toward zero; the few values before `earlier` (not asked for) would join day 0.
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


@compiles(whole_days_between, "postgresql")
def _days_postgresql(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400) AS INTEGER)"


class whole_minutes(FunctionElement):
    """SQL expression: a number of seconds (not negative) as whole minutes, rounded down (half a
    second early: SQLite's day fractions make 3 h 10,799.99… s), an integer on both backends
    (PostgreSQL's CAST rounds, SQLite's truncates)."""

    type = Integer()
    inherit_cache = True
    name = "whole_minutes"


@compiles(whole_minutes, "sqlite")
def _minutes_sqlite(element, compiler, **kw) -> str:
    [seconds] = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST((({seconds}) + 0.5) / 60 AS INTEGER)"


@compiles(whole_minutes, "postgresql")
def _minutes_postgresql(element, compiler, **kw) -> str:
    [seconds] = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(FLOOR((({seconds}) + 0.5) / 60) AS INTEGER)"


def database_url(explicit: str | None = None) -> str:
    """`explicit`, else $GRIDBOT_DATABASE_URL (or its secret file), else the default SQLite file."""
    return explicit or read_secret(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, as given (relative to the working directory when relative);
    None for another database or an in-memory SQLite one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:") \
            or parsed.query.get("mode") == "memory":
        return None
    name = parsed.database
    return Path(name[len("file:"):] if name.startswith("file:") else name)


def shares_database(url: str) -> bool:
    """Whether a second connection of another thread or process can open the database at
    `url`: a SQLite file or a database server; not an in-memory SQLite database (one
    connection, shared)."""
    return not url.startswith("sqlite") or sqlite_file(url) is not None


class DatabaseMissing(RuntimeError):
    """The URL names no GridBot database (a SQLite file that is not there, or a database with no
    GridBot tables) and the caller asked not to create one. The message names the URL, its
    password masked, and the command that creates it."""

    def __init__(self, shown_url: str, why: str) -> None:
        super().__init__(f"no GridBot database at {shown_url} ({why}). `gridbot db upgrade` "
                         f"with the same --db creates it; to use the bot's database, give its "
                         f"URL with --db or ${DATABASE_URL_ENV}")
        self.shown_url = shown_url


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
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", "models:migrations")
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is there already."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


VERSIONS = Path(__file__).parent / "migrations" / "versions"


def newest_revision() -> str:
    """The revision of the newest migration, read from the file names: each is
    `NNNN_what_it_does.py` with revision 'NNNN' (tests/test_db.py checks Alembic agrees)."""
    return max(path.name.split("_", 1)[0] for path in VERSIONS.glob("[0-9]*_*.py"))


def at_newest(engine: Engine) -> bool:
    """Whether the database's schema is at the newest migration, asked without Alembic: its
    import costs every command a fifth of a second, and the schema is nearly always there."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception:  # noqa: BLE001 - no such table, or anything odd: Alembic will tell
        return False
    return found == [newest_revision()]


class Database:
    """An engine plus the unit-of-work helper the bot and the API share."""

    def __init__(self, url: str | None = None, *, migrate: bool = True,
                 create: bool = True) -> None:
        """Open the database at `url` (default: `database_url()`) and, with `migrate`, bring
        its schema to the newest. With `create=False` a database that does not exist yet is
        not made: a SQLite file that is not there, or a database without GridBot's tables (never
        upgraded), raises `DatabaseMissing` and nothing is written. A bad URL raises
        SQLAlchemy's ArgumentError; an unreachable server its OperationalError."""
        self.url = database_url(url)
        if not create:
            file = sqlite_file(self.url)
            if file is not None and not file.exists():
                raise DatabaseMissing(self.shown_url, f"no file {file.resolve()}")
        self.engine = make_engine(self.url)
        if not create and not inspect(self.engine).has_table("alembic_version"):
            self.engine.dispose()
            raise DatabaseMissing(self.shown_url, "it has no GridBot tables")
        if migrate and not at_newest(self.engine):
            upgrade(self.engine)

    @property
    def shown_url(self) -> str:
        """The URL as it may be printed or logged: the password and any secret query value as
        `***` (`flows.credentials.mask_url`)."""
        return mask_url(self.url)

    @property
    def shown_place(self) -> str:
        """`shown_url`, with the absolute path of a SQLite file given by a relative path:
        'sqlite:///gridbot.sqlite3 (/srv/gridbot/gridbot.sqlite3)'."""
        file = sqlite_file(self.url)
        if file is None or file.is_absolute():
            return self.shown_url
        return f"{self.shown_url} ({file.resolve()})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def insert_unless_present(self, table: Table, key: list[str]) -> Insert:
        """INSERT … ON CONFLICT (key) DO NOTHING, in this database's dialect: one statement
        where a look-up then an insert would take two and could still collide."""
        # Only this database's dialect is imported: PostgreSQL's costs a SQLite start 40 ms.
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects import sqlite as dialect
        else:
            from sqlalchemy.dialects import postgresql as dialect
        return dialect.insert(table).on_conflict_do_nothing(index_elements=key)

    def dispose(self) -> None:
        self.engine.dispose()
