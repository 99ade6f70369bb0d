"""Every query parameter and path value is checked before it reaches the database: out of range
is 422 with the reason (or 404 for what is not in my scope), never 500, on both backends."""

from __future__ import annotations

import json
import string
from urllib.parse import quote
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.params import MAX_TICKET_NUMBER
from bot.runtime import Bot
from bot.transports.webhook import SIGNATURE_HEADER, WebhookTransport, sign

from test_api import bearer, world  # noqa: F401 - the fixture

HUGE = [str(2**31), str(2**63), str(10**18), str(10**23), "-1", "0", "1e30", "nan"]


async def test_the_reported_inputs_are_422_with_a_reason(world):  # noqa: F811
    app, client, tokens = world
    auth = bearer(tokens["jili"])
    for query in ({"page": 10**18}, {"level": 10**23}, {"until": "0001-01-01"},
                  {"since": "0001-01-01T00:00:00"}, {"until": "9999-12-31T23:59:59+14:00"},
                  {"category": "\x00"}, {"category": "nonsense"}, {"per_page": 10**6}):
        response = await client.get("/api/tickets", params=query, headers=auth)
        assert response.status_code == 422, (query, response.text)
        assert response.json()["detail"], query   # the reason
    for number in (2**31, 2**63, 10**30):
        for method, path in (("GET", f"/api/tickets/{number}"),
                             ("POST", f"/api/tickets/{number}/claim")):
            response = await client.request(method, path, headers=auth)
            assert response.status_code == 422, (path, response.text)
    figures = await client.get("/api/nodes/baiyi/figures", params={"until": "0001-01-01"},
                               headers=auth)
    assert figures.status_code == 422
    assert (await client.get("/api/tickets/2147483647", headers=auth)).status_code == 404
    assert (await client.get("/api/nodes/%00/figures", headers=auth)).status_code == 404
    assert (await client.get("/api/tickets", params={"node": "\x00"},
                             headers=auth)).status_code == 404


async def test_since_without_an_offset_is_read_in_the_policy_time_zone(world):  # noqa: F811
    app, client, tokens = world
    auth = bearer(tokens["jili"])
    # The tickets were created at 09:00 Asia/Shanghai (01:00 UTC).
    local = await client.get("/api/tickets", params={"since": "2026-11-24T08:59:00"}, headers=auth)
    assert local.status_code == 200 and local.json()["total"] == 3
    later = await client.get("/api/tickets", params={"since": "2026-11-24T09:01:00"}, headers=auth)
    assert later.status_code == 200 and later.json()["total"] == 0
    aware = await client.get("/api/tickets", params={"since": "2026-11-24T00:59:00Z"}, headers=auth)
    assert aware.json()["total"] == 3
    figures = await client.get("/api/nodes/jili/figures",
                               params={"since": "2026-11-24T08:00:00", "until": "2026-11-24T10:00"},
                               headers=auth)
    assert figures.status_code == 200 and figures.json()["new"] == 3


# -- property: random query parameters and path values, every endpoint, no 5xx --------------

WORDS = st.sampled_from(["", "0", "-1", "1", "2", "true", "false", "repair", "security", "open",
                         "baiyi", "jili", "hehua-b1", "shibalong-1", "满意", "\x00", "%00",
                         "2026-11-24", "2026-11-24T09:00:00", "2026-11-24T09:00:00+08:00",
                         "0001-01-01", "9999-12-31T23:59:59", "1e308", "NaN", *HUGE])
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
VALUES = st.one_of(WORDS, TEXT, st.integers(min_value=-2**70, max_value=2**70).map(str),
                   st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
                   .map(lambda d: d.isoformat()),
                   st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                                timezones=st.sampled_from([timezone.utc,
                                                           timezone(timedelta(hours=14)),
                                                           timezone(timedelta(hours=-12))]))
                   .map(lambda d: d.isoformat()))
NAMES = st.one_of(st.sampled_from(["node", "status", "category", "urgent", "overdue", "level",
                                   "since", "until", "page", "per_page"]), TEXT)
QUERIES = st.lists(st.tuples(NAMES, VALUES), max_size=6)
PATH_VALUES = st.one_of(WORDS, st.integers(min_value=-2**70, max_value=2**70).map(str),
                        st.text(alphabet=string.ascii_letters + string.digits + "-_.~%",
                                min_size=1, max_size=20))
ENDPOINTS = st.sampled_from([
    ("GET", "/api/tickets"), ("GET", "/api/tickets/{v}"), ("GET", "/api/network"),
    ("GET", "/api/nodes/{v}/figures"), ("GET", "/api/transport"), ("GET", "/tickets/{v}"),
    ("GET", "/"), ("POST", "/api/tickets/{v}/claim"), ("POST", "/api/tickets/{v}/progress"),
    ("POST", "/api/tickets/{v}/resolve"), ("POST", "/api/tickets/{v}/return"),
    ("POST", "/api/tickets/{v}/transfer"), ("POST", "/api/tickets/{v}/dispatch"),
    ("POST", "/api/tickets/{v}/escalate"), ("POST", "/api/tickets/{v}/rate"),
    ("POST", "/tickets/{v}/claim"), ("GET", "/healthz")])
BODIES = st.one_of(st.none(), st.fixed_dictionaries(
    {}, optional={"note": TEXT, "to": VALUES, "rating": WORDS, "comment": TEXT}))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(endpoint=ENDPOINTS, value=PATH_VALUES, query=QUERIES, body=BODIES,
       token=st.sampled_from(["jili", "baiyi-b1", "shibalong-1", None]))
async def test_no_query_or_path_value_gets_a_5xx(world, endpoint, value, query, body, token):  # noqa: F811
    app, client, tokens = world
    method, template = endpoint
    headers = bearer(tokens[token]) if token else {}
    if token and not template.startswith("/api"):
        headers = {"Cookie": f"gridbot_token={tokens[token]}"}   # the dashboard's login
    response = await client.request(method, template.format(v=quote(value, safe='')), params=query,
                                    json=body, headers=headers)
    assert response.status_code < 500, (method, template, value, query, body, response.text)


@pytest.mark.parametrize("number", [MAX_TICKET_NUMBER, MAX_TICKET_NUMBER + 1, 2**63 - 1, 2**63])
async def test_ticket_numbers_at_the_edges_of_both_backends(world, number):  # noqa: F811
    app, client, tokens = world
    response = await client.get(f"/api/tickets/{number}", headers=bearer(tokens["jili"]))
    assert response.status_code == (404 if number <= MAX_TICKET_NUMBER else 422)


# -- the webhook: any signed JSON object is stored and answered, or refused 4xx ---------------

SECRET = "s3cret"
FIELDS = st.one_of(st.none(), st.booleans(), st.floats(), TEXT, VALUES,
                   st.integers(min_value=-2**70, max_value=2**70), st.lists(TEXT, max_size=3),
                   st.sampled_from(["shibalong-1@chatroom", "wxid_qiu_huanwu", "下单 4号楼灯坏了",
                                    "接单 #1", "查询 #99999999999999999999", "评价 #1 满意"]))
MESSAGES = st.fixed_dictionaries({}, optional={name: FIELDS for name in (
    "id", "room", "sender", "name", "text", "at", "quoted", "mentions", "recall")})


@pytest.fixture
async def webhook(config, network, db, clock):
    transport = WebhookTransport("http://127.0.0.1:9/never", SECRET)
    bot = Bot(config, db, transport, network, clock=clock)
    app = create_app(bot, webhook_secret=SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://bot") as client:
        yield client
    await transport.close()


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(message=MESSAGES)
async def test_no_signed_webhook_body_gets_a_5xx(webhook, message):
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    response = await webhook.post("/webhook/messages", content=body,
                                  headers={SIGNATURE_HEADER: sign(SECRET, body)})
    assert response.status_code < 500, (message, response.text)


@pytest.mark.parametrize("message", [
    {"recall": "0", "at": "0001-01-01"},
    {"id": "m1", "room": "shibalong-1@chatroom", "sender": "wxid_zhang", "text": "下单 3栋灯坏了",
     "at": "0001-01-01"},
    {"id": "m2", "room": "shibalong-1@chatroom", "sender": "wxid_zhang", "text": "下单 3栋灯坏了",
     "at": "9999-12-31T23:00:00-08:00"},
])
async def test_a_time_that_cannot_be_kept_in_utc_is_refused_with_its_reason(webhook, message):
    # Found by the property test: 0001-01-01 read in Asia/Shanghai is before year 1 in UTC.
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    response = await webhook.post("/webhook/messages", content=body,
                                  headers={SIGNATURE_HEADER: sign(SECRET, body)})
    assert response.status_code == 422 and "out of range" in response.text
