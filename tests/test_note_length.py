"""API notes are capped (issue 19, item 8): a 1,000,006-character note is refused (422), not stored
and never becomes a post the chat service would refuse."""

from __future__ import annotations

import httpx

from api.app import create_app
from api.tokens import create_token
from bot.outbox import pending_count
from bot.runtime import Bot
from bot.transports.simulator import Simulator

GRID = "shibalong-1@chatroom"


async def test_an_api_note_longer_than_a_message_is_422_and_not_stored(db, config, network, clock):
    simulator = Simulator(network)
    bot = Bot(config, db, simulator, network, clock=clock)
    simulator.attach(bot)
    await simulator.say(GRID, "wxid_resident_zhang", "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    token = create_token(db, network, network.root.id, "ops", clock())
    app = create_app(bot)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://bot") as client:
        headers = {"Authorization": f"Bearer {token}"}
        before = pending_count(db)
        response = await client.post("/api/tickets/1/progress", json={"note": "灯" * 1_000_006},
                                     headers=headers)
        assert response.status_code in (413, 422), response.text
        assert pending_count(db) == before
        history = (await client.get("/api/tickets/1", headers=headers)).json()
        assert all(len(event.get("note") or "") < 10_000 for event in history["events"])
