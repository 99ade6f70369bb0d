"""Credentials never shown: one masking helper (flows.credentials) for database URLs, callback URLs
with a key, tokens and secrets, used by the CLI, `gridbot run`'s log, the outbox's dead letters and
/readyz."""

from __future__ import annotations

import io
import logging

import httpx
import pytest

from api.app import create_app
from bot.logs import CredentialsFilter, configure_logging
from bot.outbox import dead_letters, deliver_pending
from bot.runtime import Bot
from bot.transports.simulator import Simulator
from bot.transport import OutgoingPost
from bot.transports.webhook import CallbackRefused
from flows.credentials import mask_credentials, mask_url, url_secrets
from models.db import Database

from test_pacing import Recorder, write

WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://gridbot:s3cret@db.example:5432/gridbot",
     "postgresql+psycopg://gridbot:***@db.example:5432/gridbot"),
    ("postgresql://gridbot:p%40ss@db/gridbot?sslmode=require",
     "postgresql://gridbot:***@db/gridbot?sslmode=require"),
    ("postgresql://gridbot@db/gridbot?password=s3cret", "postgresql://gridbot@db/gridbot?password=***"),
    (WECOM, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"),
    ("https://bridge:pw@hooks.example/in?room=1&access_token=abc&Token=def",
     "https://bridge:***@hooks.example/in?room=1&access_token=***&Token=***"),
    ("https://hooks.example/in?room=1", "https://hooks.example/in?room=1"),   # nothing to hide
    ("postgresql://gridbot@db/gridbot", "postgresql://gridbot@db/gridbot"),  # user, no password
    ("sqlite:///gridbot.sqlite3", "sqlite:///gridbot.sqlite3"),
    ("not a url", "not a url"),
])
def test_a_url_is_shown_without_its_credentials(url, shown):
    assert mask_url(url) == shown


def test_credentials_in_a_text_are_masked_wherever_they_stand():
    access = '127.0.0.1:50712 - "GET /login?next=/&token=gb_abc123 HTTP/1.1" 200'
    assert mask_credentials(access) == '127.0.0.1:50712 - "GET /login?next=/&token=*** HTTP/1.1" 200'
    driver = "connection failed: host=db port=5432 user=gridbot password=s3cret dbname=gridbot"
    assert mask_credentials(driver) == \
        "connection failed: host=db port=5432 user=gridbot password=*** dbname=gridbot"
    error = f"ConnectError: POST {WECOM} failed; retry with 'postgresql://u:pw@db/x'"
    assert mask_credentials(error) == ("ConnectError: POST https://qyapi.weixin.qq.com/cgi-bin/"
                                       "webhook/send?key=*** failed; retry with 'postgresql://u:***@db/x'")
    assert mask_credentials(f"posts to {WECOM}, then to https://x.example/?token=t.") == \
        "posts to https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***, then to " \
        "https://x.example/?token=***."
    assert mask_credentials("target gridbot:s3cret@db:5432 refused") == \
        "target gridbot:***@db:5432 refused"
    # Literal secrets (a gateway token, a webhook secret) anywhere; a too short one is left.
    assert mask_credentials("puppet_padlocal_0c2f8e says no (abc)", ["puppet_padlocal_0c2f8e", "abc", None]) \
        == "*** says no (abc)"
    assert mask_credentials("12:30 ticket #3, keyword=下单") == "12:30 ticket #3, keyword=下单"
    assert url_secrets("postgresql://u:p%40ss@db/x") == ["p%40ss", "p@ss"]
    assert url_secrets("sqlite:///x.sqlite3") == [] and url_secrets(None) == []


def test_the_database_url_shown_hides_a_password_given_as_a_query_parameter():
    db = Database("postgresql+psycopg://gridbot@db.example/gridbot?password=s3cret", migrate=False)
    assert db.shown_url == "postgresql+psycopg://gridbot@db.example/gridbot?password=***"


def test_the_log_masks_messages_arguments_tracebacks_and_given_secrets():
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = configure_logging(["wechaty-token-0123"], stream=stream)
    log = logging.getLogger("gridbot.test")
    try:
        log.info("POST %s \"HTTP/1.1 200 OK\"", WECOM)
        log.info("gateway said %r", "bad token wechaty-token-0123")
        try:
            raise RuntimeError("could not connect to postgresql://gridbot:s3cret@db/gridbot")
        except RuntimeError:
            log.exception("scan failed")
        # An access log line as uvicorn writes it (its loggers propagate under gridbot run).
        logging.getLogger("gridbot.test.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1",
                                                      "GET", "/?token=gb_zzz", "1.1", 200)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    written = stream.getvalue()
    for secret in ("693a91f6", "wechaty-token-0123", "s3cret", "gb_zzz"):
        assert secret not in written
    assert "send?key=***" in written and "bad token ***" in written
    assert "postgresql://gridbot:***@db/gridbot" in written and "Traceback" in written
    assert "GET /?token=*** HTTP/1.1" in written


def test_the_filter_keeps_every_record_and_leaves_a_clean_one_as_it_was():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "ticket #%d claimed", (3,), None)
    assert CredentialsFilter().filter(record) and record.args == (3,)
    assert record.getMessage() == "ticket #3 claimed"


async def test_a_dead_letters_reason_is_stored_without_the_callbacks_key(db, config, network,
                                                                           clock):
    class Refusing(Recorder):
        async def send(self, post: OutgoingPost) -> None:
            raise CallbackRefused(f"{WECOM} answered 400 to post {post.id}", 400)

    write(db, config, network, "shibalong-1@chatroom", 1, "x ")
    await deliver_pending(db, Refusing(), clock, 20)
    [letter] = dead_letters(db)
    assert "693a91f6" not in letter.reason and "send?key=***" in letter.reason


async def test_readyz_names_a_database_failure_without_the_password(db, config, network, clock,
                                                                      monkeypatch):
    import api.app

    def failing(*_args) -> None:  # as a driver quoting its whole target in the error would
        raise RuntimeError("cannot reach postgresql://gridbot:s3cret-pw@db.example/gridbot")

    monkeypatch.setattr(api.app, "write_heartbeat", failing)
    bot = Bot(config, db, Simulator(network), network, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bot)),
                                 base_url="http://bot") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503 and "s3cret-pw" not in response.text
    assert response.json()["detail"] == [
        "database: RuntimeError: cannot reach postgresql://gridbot:***@db.example/gridbot"]


def test_the_scheduler_says_only_what_went_wrong():
    stream = io.StringIO()
    level = logging.getLogger().level
    scheduler = logging.getLogger("apscheduler.executors.default")
    handler = configure_logging(stream=stream)
    try:
        scheduler.info('Job "scan" executed successfully')
        scheduler.warning('Run time of job "scan" was missed by 0:00:05')
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
        logging.getLogger("apscheduler").setLevel(logging.NOTSET)
    assert "executed successfully" not in stream.getvalue() and "was missed" in stream.getvalue()
