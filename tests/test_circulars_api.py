"""Circulars (通知下发) through the API and the dashboard: sent with a token's scope, scheduled,
their history (who sent, which groups got it when, receipts) scoped to the token's subtree."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from api.app import create_app
from api.tokens import create_token
from conftest import START
from flows import texts

VILLAGE_GROUPS = {"baiyi-b1", "shibalong-1", "shibalong-2", "shibalong-3", "baiyi-b2", "baiyi-b2-1"}


@pytest.fixture
async def world(sim, db, network, clock):
    tokens = {node: create_token(db, network, node, f"token of {node}", START)
              for node in ("jili", "baiyi", "baiyi-b1", "hehua")}
    app = create_app(sim.bot)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    yield client, tokens
    await client.aclose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_a_circular_sent_through_the_api_reaches_every_group_below_and_shows_receipts(
        world, sim, clock):
    client, tokens = world
    made = await client.post("/api/circulars", headers=bearer(tokens["baiyi"]),
                             json={"text": "明天停水，请提前储水"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["number"] == 1 and body["sent_at"] is not None
    assert {group["node_id"] for group in body["groups"]} == VILLAGE_GROUPS
    posted = [post for post in sim.posts if post.text.startswith("【通知#1】")]
    assert sorted(post.room.split("@")[0] for post in posted) == sorted(VILLAGE_GROUPS)
    assert all("token of baiyi" in post.text for post in posted)
    clock.advance(minutes=3)
    await sim.say("shibalong-1@chatroom", "wxid_qiu_huanwu", "收到")
    await sim.say("shibalong-2@chatroom", "wxid_resident_zhang", "收到")
    shown = (await client.get("/api/circulars/1", headers=bearer(tokens["baiyi"]))).json()
    by_node = {group["node_id"]: group for group in shown["groups"]}
    assert by_node["shibalong-1"]["head_receipt_by"] == "邱煥武"
    assert by_node["shibalong-1"]["delivered_at"] is not None
    assert by_node["shibalong-2"]["head_receipt_at"] is None
    assert by_node["shibalong-2"]["resident_receipts"] == 1
    # A branch token sees its own part of it; another community's token does not see it.
    branch = (await client.get("/api/circulars/1", headers=bearer(tokens["baiyi-b1"]))).json()
    assert {g["node_id"] for g in branch["groups"]} == {"baiyi-b1", "shibalong-1", "shibalong-2",
                                                        "shibalong-3"}
    assert (await client.get("/api/circulars/1", headers=bearer(tokens["hehua"]))).status_code == 404
    assert (await client.get("/api/circulars", headers=bearer(tokens["hehua"]))).json() == []
    listed = (await client.get("/api/circulars", headers=bearer(tokens["baiyi-b1"]))).json()
    assert [(c["number"], c["groups"], c["confirmed"]) for c in listed] == [(1, 4, 1)]


async def test_a_scheduled_circular_goes_when_the_scheduler_reaches_its_time(world, sim, clock):
    client, tokens = world
    at = (START + timedelta(hours=3)).isoformat()
    made = await client.post("/api/circulars", headers=bearer(tokens["jili"]),
                             json={"text": "周六上午消防演练", "node_id": "baiyi-b1",
                                   "down_to": "microgrid", "send_at": at, "urgent": True})
    assert made.status_code == 201, made.text
    assert made.json()["sent_at"] is None and made.json()["groups"] == []
    assert not [p for p in sim.posts if "消防演练" in p.text]
    clock.advance(hours=2)
    await sim.bot.tick(clock.now)
    assert not [p for p in sim.posts if "消防演练" in p.text]
    clock.advance(hours=1)
    await sim.bot.tick(clock.now)
    posted = [p for p in sim.posts if "消防演练" in p.text]
    assert sorted(p.room for p in posted) == ["shibalong-1@chatroom", "shibalong-2@chatroom",
                                              "shibalong-3@chatroom"]
    assert all(p.text.startswith("【紧急通知#1】") and len(p.mentions) == 1 for p in posted)


async def test_the_api_refuses_outside_the_scope_and_bad_input(world):
    client, tokens = world
    outside = await client.post("/api/circulars", headers=bearer(tokens["hehua"]),
                                json={"text": "x", "node_id": "baiyi"})
    assert outside.status_code == 404
    level = await client.post("/api/circulars", headers=bearer(tokens["baiyi"]),
                              json={"text": "x", "down_to": "planet"})
    assert level.status_code == 422
    leaf = await client.post("/api/circulars", headers=bearer(tokens["jili"]),
                             json={"text": "x", "node_id": "shibalong-1"})
    assert leaf.status_code == 422
    assert (await client.post("/api/circulars", headers=bearer(tokens["baiyi"]),
                              json={"text": ""})).status_code == 422
    assert (await client.post("/api/circulars", json={"text": "x"})).status_code == 401


def token_in(page: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)


async def test_the_dashboard_sends_a_circular_with_its_csrf_token_and_shows_its_history(world, sim):
    client, tokens = world
    form = await client.get("/")
    assert (await client.post("/login", data={"token": tokens["baiyi-b1"],
                                              "csrftoken": token_in(form.text)})).status_code == 303
    page = await client.get("/circulars")
    assert page.status_code == 200 and 'name="text"' in page.text
    forged = await client.post("/circulars", data={"text": "明天停水"},
                               headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    assert not [p for p in sim.posts if "明天停水" in p.text]
    sent = await client.post("/circulars", data={"text": "明天停水", "down_to": "",
                                                 "csrftoken": token_in(page.text)})
    assert sent.status_code == 303 and sent.headers["location"] == "/circulars/1?notice=circular_sent"
    assert sorted(p.room for p in sim.posts if "明天停水" in p.text) == [
        "shibalong-1@chatroom", "shibalong-2@chatroom", "shibalong-3@chatroom"]
    await sim.say("shibalong-3@chatroom", "wxid_zhao_li", "收到")
    shown = await client.get("/circulars/1")
    assert shown.status_code == 200
    assert '<strong id="confirmed">1</strong>' in shown.text and shown.text.count("未确认") == 2
    assert "通知#1" in (await client.get("/circulars")).text
    empty = await client.post("/circulars", data={"text": " ", "csrftoken": token_in(page.text)})
    assert empty.status_code == 422 and texts.DASHBOARD_CIRCULAR_EMPTY in empty.text
    assert (await client.get("/circulars/99")).status_code == 404
