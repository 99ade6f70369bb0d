"""The operators' API: tokens, the subtree scope on every endpoint, filters and pages."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from api.app import create_app
from api.tokens import create_token, revoke_token
from bot.transports.health import ConnectionHealth

from conftest import START

GRID, OTHER_GRID = "shibalong-1@chatroom", "hehua-1@chatroom"
HEAD, RESIDENT = "wxid_qiu_huanwu", "wxid_resident_zhang"


@pytest.fixture
async def world(sim, db, network, clock):
    """Tickets in two branches: #1 #2 under 百宜第一党支部, #3 under 荷花社区."""
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮 电话13812345678", name="王小明")
    await sim.say(GRID, RESIDENT, "下单 2号楼302室门口有人打架", name="王小明")
    await sim.say(OTHER_GRID, "wxid_resident_li", "下单 1栋楼道垃圾没人清", name="李大姐")
    clock.advance(minutes=30)
    await sim.say(GRID, HEAD, "接单 #1")
    clock.advance(minutes=1)
    tokens = {node: create_token(db, network, node, f"token of {node}", START)
              for node in ("jili", "baiyi", "baiyi-b1", "shibalong-1", "hehua-b1")}
    app = create_app(sim.bot)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    yield app, client, tokens
    await client.aclose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_or_a_bad_one_is_401(world, db):
    app, client, tokens = world
    assert (await client.get("/api/tickets")).status_code == 401
    bad = await client.get("/api/tickets", headers=bearer("gb_nonsense"))
    assert bad.status_code == 401 and bad.json() == {"detail": "unknown or revoked token"}
    assert bad.headers["www-authenticate"] == "Bearer"
    revoke_token(db, "token of baiyi-b1", START)
    assert (await client.get("/api/tickets", headers=bearer(tokens["baiyi-b1"]))).status_code == 401


async def test_a_branch_sees_its_tickets_with_history(world):
    app, client, tokens = world
    page = (await client.get("/api/tickets", headers=bearer(tokens["baiyi-b1"]))).json()
    assert [t["number"] for t in page["items"]] == [2, 1] and page["total"] == 2
    detail = (await client.get("/api/tickets/1", headers=bearer(tokens["baiyi-b1"]))).json()
    assert detail["status"] == "claimed" and detail["assignee_name"] == "邱煥武"
    assert [e["kind"] for e in detail["events"]] == ["created", "claimed"]
    # Above the micro-grid the reporter and phone numbers are masked, rooms dropped.
    assert detail["reporter_name"] == "王*" and "138****5678" in detail["description"]
    micro = (await client.get("/api/tickets/2", headers=bearer(tokens["shibalong-1"]))).json()
    assert micro["reporter_name"] == "王小明" and micro["room"] == "302"
    masked = (await client.get("/api/tickets/2", headers=bearer(tokens["baiyi-b1"]))).json()
    assert masked["room"] is None


def concrete(path: str, foreign_ticket: int, foreign_node: str, foreign_leave: int = 1) -> str:
    return path.replace("{number}", str(foreign_ticket)).replace("{node_id}", foreign_node) \
        .replace("{leave_id}", str(foreign_leave)).replace("{attachment_id}", "1")


async def test_every_endpoint_with_a_token_of_another_branch_leaks_nothing(world):
    app, client, tokens = world
    other = bearer(tokens["hehua-b1"])           # 荷花's branch: ticket #3 only
    leaks = 0
    # A leave of 百宜's branch head, which 荷花's token may neither see nor end.
    leave = (await client.post("/api/stand-ins", headers=bearer(tokens["baiyi-b1"]), json={
        "member_id": "wxid_wang_guoqiang", "stand_in": "wxid_zhou_min",
        "until": "2026-11-30"})).json()["id"]
    # Every endpoint the API documents, so a new one is tried without changing this test.
    endpoints = [(method.upper(), path) for path, operations in app.openapi()["paths"].items()
                 if path.startswith("/api") for method in operations]
    # 2 reads and 10 actions on tickets, network, figures, rates, the report's workbook,
    # transport, 3 on stand-ins, 2 on attachments (tests/test_attachments.py holds them to the
    # scope with one in place), 3 on circulars (tests/test_circulars_api.py likewise)
    assert len(endpoints) == 25
    for method, template in endpoints:
        path = concrete(template, foreign_ticket=1, foreign_node="baiyi-b1", foreign_leave=leave)
        body_for_any_action = {"note": "x", "to": "wxid_zhou_min", "rating": "满意",
                               "reason": "x", "member_id": "wxid_wang_guoqiang",
                               "stand_in": "wxid_zhou_min", "until": "2026-12-30"}
        response = await client.request(method, path, headers=other,
                                        json=body_for_any_action if method == "POST" else None)
        body = response.text
        if "{" in template:
            leaks += response.status_code != 404
        # Nothing of the other branch in any answer (a 404 may repeat the id it was asked for).
        leaks += any(secret in body for secret in ("4号楼二单元", "王小明", "王*", "邱煥武",
                                                    "shibalong", "百宜", "石坝垅", "王国强",
                                                    "周敏"))
        # Setting a leave for a head outside the subtree is 404 too.
        if template == "/api/stand-ins" and method == "POST":
            leaks += response.status_code != 404
    assert leaks == 0
    # And the filters cannot reach outside either.
    assert (await client.get("/api/tickets?node=baiyi-b1", headers=other)).status_code == 404
    own = (await client.get("/api/tickets", headers=other)).json()
    assert [t["number"] for t in own["items"]] == [3]
    # None of the actions tried on #1 changed it.
    mine = (await client.get("/api/tickets/1", headers=bearer(tokens["baiyi-b1"]))).json()
    assert mine["status"] == "claimed" and len(mine["events"]) == 2


async def test_a_missing_ticket_and_a_foreign_one_look_the_same(world):
    app, client, tokens = world
    other = bearer(tokens["hehua-b1"])
    foreign = await client.get("/api/tickets/1", headers=other)
    missing = await client.get("/api/tickets/999", headers=other)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == {"detail": "ticket #1 not found"}
    assert missing.json() == {"detail": "ticket #999 not found"}


async def test_filters_and_pages(world, clock):
    app, client, tokens = world
    top = bearer(tokens["jili"])
    get = lambda query: client.get(f"/api/tickets?{query}", headers=top)  # noqa: E731
    assert (await get("")).json()["total"] == 3
    assert [t["number"] for t in (await get("status=claimed")).json()["items"]] == [1]
    assert [t["number"] for t in (await get("status=open&status=claimed&category=security")).json()["items"]] == [2]
    assert [t["number"] for t in (await get("urgent=true")).json()["items"]] == [2]
    assert [t["number"] for t in (await get("node=hehua")).json()["items"]] == [3]
    # #2 (urgent, open) was due after 10 minutes, #3 after 2 hours; it is 31 minutes later.
    assert [t["number"] for t in (await get("overdue=true")).json()["items"]] == [2]
    assert [t["number"] for t in (await get("overdue=false")).json()["items"]] == [3, 1]
    first = (await get("per_page=2")).json()
    second = (await get("per_page=2&page=2")).json()
    assert [t["number"] for t in first["items"] + second["items"]] == [3, 2, 1]
    assert first["total"] == second["total"] == 3
    since = (START + timedelta(minutes=1)).isoformat()
    assert (await client.get("/api/tickets", params={"since": since}, headers=top)).json()["total"] == 0
    bad = await get("status=lost")
    assert bad.status_code == 422 and "detail" in bad.json()


async def test_the_network_tree_and_figures(world, clock):
    app, client, tokens = world
    tree = (await client.get("/api/network", headers=bearer(tokens["baiyi"]))).json()
    assert tree["id"] == "baiyi" and [c["id"] for c in tree["children"]] == ["baiyi-b1", "baiyi-b2"]
    microgrid = tree["children"][0]["children"][0]
    assert microgrid["id"] == "shibalong-1" and microgrid["open"] == 2 and microgrid["overdue"] == 1
    figures = (await client.get("/api/nodes/baiyi-b1/figures", headers=bearer(tokens["baiyi"]),
                                params={"since": (START - timedelta(hours=1)).isoformat()})).json()
    assert (figures["new"], figures["claimed"], figures["overdue"]) == (2, 1, 1)
    assert figures["average_claim_minutes"] == 30.0
    assert figures["ratings"] == {"满意": 0, "基本满意": 0, "不满意": 0}


async def test_health_and_readiness(world):
    app, client, tokens = world
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["dead_letters"] == 0
    health = (await client.get("/api/transport", headers=bearer(tokens["jili"]))).json()
    assert health["kind"] == "simulator" and health["connected"] and health["pending_posts"] == 0


async def test_the_openapi_page_describes_every_model(world):
    app, client, tokens = world
    schema = (await client.get("/openapi.json")).json()
    for model in ("TicketOut", "TicketDetail", "TicketPage", "EventOut", "NodeOut", "FiguresOut",
                  "TransportHealth"):
        assert schema["components"]["schemas"][model].get("description"), model
    assert (await client.get("/docs")).status_code == 200
    assert "bearer" in str(schema["components"]["securitySchemes"]).lower()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_pages_load_every_asset_from_the_bot_itself(world, page):
    # Offices often reach no CDN: every script, style and icon of the page is served here.
    app, client, tokens = world
    html = (await client.get(page)).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/") and not asset.startswith("//") for asset in assets)
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset


async def test_actions_post_the_chat_notice_and_record_the_api_user(world, sim):
    app, client, tokens = world
    branch = bearer(tokens["baiyi-b1"])
    before = len(sim.posts)
    claimed = await client.post("/api/tickets/2/claim", headers=branch)
    assert claimed.status_code == 200 and claimed.json()["assignee_name"] == "token of baiyi-b1"
    [notice] = sim.posts[before:]
    assert notice.room == GRID and notice.text == "#2 已由 token of baiyi-b1 接单，正在处理。"
    progress = await client.post("/api/tickets/2/progress", headers=branch,
                                 json={"note": "已联系派出所"})
    assert progress.status_code == 200
    resolved = await client.post("/api/tickets/2/resolve", headers=branch, json={"note": "已处理"})
    assert resolved.json()["status"] == "resolved"
    rated = await client.post("/api/tickets/2/rate", headers=branch,
                              json={"rating": "满意", "comment": "电话回访"})
    assert rated.json()["status"] == "closed" and rated.json()["rating"] == "满意"
    history = (await client.get("/api/tickets/2", headers=branch)).json()["events"]
    assert [(e["kind"], e["actor_name"]) for e in history][1:] == [
        ("claimed", "token of baiyi-b1"), ("progress", "token of baiyi-b1"),
        ("resolved", "token of baiyi-b1"), ("rated", "token of baiyi-b1"),
        ("closed", "token of baiyi-b1")]
    assert all(not m.startswith("api:") for post in sim.posts for m in post.mentions)


async def test_a_refused_action_is_409_with_the_chat_reason_and_changes_nothing(world, sim):
    app, client, tokens = world
    branch = bearer(tokens["baiyi-b1"])
    before = len(sim.posts)
    refused = await client.post("/api/tickets/1/resolve", headers=branch, json={"note": "x"})
    assert refused.status_code == 409
    assert refused.json()["detail"] == "抱歉，#1 由 邱煥武 处理，只有接单人可以办结。"
    assert sim.posts[before:] == []
    assert (await client.get("/api/tickets/1", headers=branch)).json()["status"] == "claimed"


async def test_escalate_dispatch_and_transfer_through_the_api(world, sim):
    app, client, tokens = world
    grid, village = bearer(tokens["shibalong-1"]), bearer(tokens["baiyi"])
    escalated = await client.post("/api/tickets/2/escalate", headers=grid, json={"note": "需要协调"})
    assert escalated.json()["escalation_level"] == 1
    assert sim.posts[-1].room == "baiyi-b1@chatroom" and sim.posts[-1].text.startswith("【吹哨】#2")
    dispatched = await client.post("/api/tickets/2/dispatch", headers=village,
                                   json={"to": "wxid_zhou_min"})
    assert dispatched.status_code == 200 and dispatched.json()["assignee_name"] == "周敏"
    unknown = await client.post("/api/tickets/2/dispatch", headers=village, json={"to": "wxid_x"})
    assert unknown.status_code == 409 and unknown.json()["detail"] == "找不到 @wxid_x，请核对名字。"
    # A micro-grid token may not dispatch (only heads above may).
    assert (await client.post("/api/tickets/1/dispatch", headers=grid,
                              json={"to": "wxid_zhou_min"})).status_code == 409


async def test_readyz_says_what_is_missing(world, sim):
    app, client, tokens = world

    # The simulator standing in for a transport whose gateway never let it log in.
    sim.health = ConnectionHealth(target="10.0.0.5:8788")
    sim.health.failed("gateway 10.0.0.5:8788 unreachable: ConnectionRefusedError()")
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["detail"] == [
        "transport 10.0.0.5:8788: not connected yet (1 tries; last error: "
        "gateway 10.0.0.5:8788 unreachable: ConnectionRefusedError())"]
    health = (await client.get("/api/transport", headers=bearer(tokens["jili"]))).json()
    assert health["connected"] is False and health["ready"] is False
    assert health["attempts_since_success"] == 1 and health["target"] == "10.0.0.5:8788"
