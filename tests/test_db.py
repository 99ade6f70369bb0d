"""The schema: Alembic migrations match the models, and run again as a no-op."""

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlmodel import select

from models.db import Database, alembic_config, at_newest, newest_revision
from models.tables import Ticket


def test_migrations_create_every_table_and_match_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    assert {"ticket", "ticket_event", "inbound_message", "outbound_post", "alembic_version"} <= \
        set(inspect(db.engine).get_table_names())
    command.check(alembic_config(db.engine))  # raises when the models drifted from the migrations
    Database(db.url)  # a second start upgrades nothing and does not fail


def test_the_newest_revision_read_from_the_file_names_is_alembics_head():
    from alembic.script import ScriptDirectory

    assert newest_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_database_behind_is_upgraded_at_open_and_one_at_the_newest_is_left_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    behind = Database(url, migrate=False)
    command.upgrade(alembic_config(behind.engine), "0002")
    assert not at_newest(behind.engine)
    opened = Database(url)
    assert at_newest(opened.engine) and "department_call" in inspect(opened.engine).get_table_names()


def test_an_index_rebuilt_by_a_migration_keeps_statistics_where_the_others_have_them(tmp_path):
    """SQLite drops an index's statistics with it: a planner that knows every other index takes
    one without them for the worst (the open tickets' count read row by row by deadline)."""
    url = f"sqlite:///{tmp_path / 'analysed.sqlite3'}"
    behind = Database(url, migrate=False)
    command.upgrade(alembic_config(behind.engine), "0017")
    with behind.engine.begin() as connection:
        for number, status in enumerate(("open", "claimed", "closed", "closed"), start=1):
            connection.exec_driver_sql(
                "INSERT INTO ticket (source_message_id, group_room, node_id, reporter_id, "
                "reporter_name, text, category, created_at, status, urgent, escalation_level) "
                f"VALUES ('m{number}', 'room', 'grid', 'r', '居民', '灯坏了', 'repair', "
                f"'2026-11-24 01:00:00.000000', '{status}', 0, 0)")
        connection.exec_driver_sql("ANALYZE")
    opened = Database(url)
    with opened.engine.connect() as connection:
        analysed = {name for (name,) in connection.exec_driver_sql(
            "SELECT idx FROM sqlite_stat1 WHERE tbl = 'ticket'")}
        plan = " ".join(row[-1] for row in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT urgent, count(*) FROM ticket "
            "WHERE status IN ('open', 'claimed', 'verifying') GROUP BY urgent"))
    assert "ix_ticket_open" in analysed
    assert "COVERING INDEX ix_ticket_open " in plan + " ", plan


def test_times_come_back_aware_and_in_utc(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 't.sqlite3'}")
    local = datetime(2026, 11, 24, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    with db.session() as session:
        session.add(Ticket(source_message_id="m", group_room="g", node_id="n", reporter_id="r",
                           reporter_name="r", text="t", category="repair", created_at=local))
    with db.session() as session:
        stored = session.get(Ticket, 1)
    assert stored.created_at == local and stored.created_at.tzinfo == timezone.utc


def test_naive_times_are_refused(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    with pytest.raises(Exception, match="naive datetime"):
        with db.session() as session:
            session.add(Ticket(source_message_id="m", group_room="g", node_id="n", reporter_id="r",
                               reporter_name="r", text="t", category="repair",
                               created_at=datetime(2026, 1, 1)))


def test_open_tickets_from_before_the_timers_fall_due_at_the_upgrade(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'u.sqlite3'}", migrate=False)
    command.upgrade(alembic_config(db.engine), "0002")
    with db.engine.begin() as connection:
        for number, status in enumerate(("open", "claimed", "closed"), start=1):
            connection.exec_driver_sql(
                "INSERT INTO ticket (source_message_id, group_room, node_id, reporter_id, "
                "reporter_name, text, category, urgent, status, escalation_level, created_at) "
                f"VALUES ('m{number}', 'g', 'n', 'r', 'r', 't', 'repair', 0, '{status}', 0, "
                "'2026-11-20 01:00:00')")
    command.upgrade(alembic_config(db.engine), "head")
    with db.session() as session:
        clocks = [(t.status, t.deadline_at) for t in session.exec(
            select(Ticket).order_by(Ticket.id)).all()]
    created = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)
    assert clocks == [("open", created), ("claimed", created), ("closed", None)]


@pytest.mark.postgresql
def test_migrations_on_postgresql_match_the_models_and_run_from_the_cli(postgres_url):
    from sqlalchemy import create_engine

    # A database of its own, so the shared test schema is left alone.
    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS migrations_check")
        connection.exec_driver_sql("CREATE DATABASE migrations_check")
    admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/migrations_check"
    # With a password in the URL (the test cluster trusts local connections and never asks).
    with_password = url.replace("postgres@", "postgres:s3cret-pw@")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade", "--db", with_password],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr and "postgres:***@" in result.stdout
    db = Database(url, migrate=False)
    assert {"ticket", "ticket_escalation", "digest_run", "api_token", "outbound_post"} <= \
        set(inspect(db.engine).get_table_names())
    command.check(alembic_config(db.engine))  # the models and the migrations agree on PostgreSQL
    db.dispose()


def test_a_database_url_is_shown_without_its_password():
    db = Database("postgresql+psycopg://gridbot:s3cret@db.example:5432/gridbot", migrate=False)
    assert db.shown_url == "postgresql+psycopg://gridbot:***@db.example:5432/gridbot"
    assert Database("sqlite:///x.sqlite3", migrate=False).shown_url == "sqlite:///x.sqlite3"
