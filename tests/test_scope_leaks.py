"""Nobody learns what lies outside their reach: in chat a number outside the group's reach is
answered exactly as one that does not exist; `/api/transport` counts the posts waiting for my
subtree's groups (the whole network's only for a token at its top)."""

from __future__ import annotations

from datetime import datetime

from flows import texts
from models.tables import OutboundPost

from conftest import START
from test_api import bearer, world  # noqa: F401 - the fixture

GRID, OTHER_GRID = "shibalong-1@chatroom", "hehua-1@chatroom"
STRANGER = "wxid_someone"


async def test_a_number_elsewhere_is_answered_as_a_missing_one(sim):
    await sim.say(GRID, "wxid_resident_zhang", "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    for command in ("查询 #{n}", "接单 #{n}", "办结 #{n} 好了", "补充 #{n} 还有", "评价 #{n} 满意",
                    "吹哨 #{n} 急", "退单 #{n}"):
        [elsewhere] = await sim.say(OTHER_GRID, STRANGER, command.format(n=1))
        [missing] = await sim.say(OTHER_GRID, STRANGER, command.format(n=999))
        assert elsewhere.text == missing.text.replace("#999", "#1"), command
        assert elsewhere.text == texts.TICKET_NOT_FOUND.format(number=1)
    # In its own group, anyone is still told what #1 is.
    [summary] = await sim.say(GRID, STRANGER, "查询 #1")
    assert summary.text.startswith("#1")


def waiting(db, room: str | None, count: int) -> None:
    with db.session() as session:
        for index in range(count):
            session.add(OutboundPost(room=room, text=f"待发 {index}",
                                     created_at=datetime(2026, 11, 24, 9, 0, tzinfo=START.tzinfo)))


async def test_pending_posts_are_counted_per_scope(world, db):  # noqa: F811
    app, client, tokens = world

    def pending(node):
        return client.get("/api/transport", headers=bearer(tokens[node]))

    base = {node: (await pending(node)).json()["pending_posts"] for node in tokens}
    waiting(db, OTHER_GRID, 3)    # under 荷花社区
    waiting(db, GRID, 2)          # under 百宜第一党支部
    waiting(db, None, 1)          # a private message
    after = {node: (await pending(node)).json()["pending_posts"] - base[node] for node in tokens}
    assert after == {"jili": 6, "baiyi": 2, "baiyi-b1": 2, "shibalong-1": 2, "hehua-b1": 3}


async def test_dead_letters_are_counted_per_scope_and_not_as_pending(world, db):  # noqa: F811
    app, client, tokens = world

    async def counts(node):
        health = (await client.get("/api/transport", headers=bearer(tokens[node]))).json()
        return health["pending_posts"], health["dead_letters"]

    base = {node: await counts(node) for node in tokens}
    with db.session() as session:
        for room in (GRID, OTHER_GRID):
            session.add(OutboundPost(room=room, text="无法送达", created_at=START,
                                     dead_at=START, dead_reason="CallbackRefused: 413"))
    after = {node: tuple(now - then for now, then in zip(await counts(node), base[node]))
             for node in tokens}
    assert after == {"jili": (0, 2), "baiyi": (0, 1), "baiyi-b1": (0, 1), "shibalong-1": (0, 1),
                     "hehua-b1": (0, 1)}
