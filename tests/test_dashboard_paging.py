"""The dashboard shows a page of each list, never every row (a city has 96,000 open tickets): 20
per page oldest first, the total beside each list, links to the next and previous pages that
keep the filters, and filters by node, category and overdue. At the network's top, a ticket
whose grid a later config removed is still seen."""

from __future__ import annotations

import re

import httpx
import yaml
from sqlmodel import select

from api.app import create_app
from api.dashboard import PAGE_ROWS
from api.tokens import create_token
from bot.runtime import Bot
from flows.config import parse_config
from flows.network import Network
from models.tables import Ticket

from conftest import REPO, START
from test_csrf import token_in

GRID, OTHER_GRID, HEHUA = "shibalong-1@chatroom", "shibalong-2@chatroom", "hehua-1@chatroom"


async def log_in(client: httpx.AsyncClient, token: str) -> None:
    form = await client.get("/")
    await client.post("/login", data={"token": token, "csrftoken": token_in(form.text)})


def numbers(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/tickets/(\d+)">', page)]


def heading(page: str, title: str) -> int:
    return int(re.search(rf"<h2>{title}（(\d+)）</h2>", page)[1])


async def test_a_page_of_each_list_with_links_that_keep_the_filters(sim, db, network, clock):
    for index in range(PAGE_ROWS + 5):          # 25 ordinary requests, one a minute
        await sim.say(GRID, f"wxid_r{index}", f"下单 {index % 9 + 1}号楼楼道灯不亮", name="居民")
        clock.advance(minutes=1)
    await sim.say(OTHER_GRID, "wxid_rx", "下单 8号楼门口垃圾堆了三天没人清", name="赵大爷")
    await sim.say(HEHUA, "wxid_ry", "下单 2号楼楼道灯不亮", name="钱先生")
    with db.session() as session:
        repairs = [t.id for t in session.exec(select(Ticket).where(Ticket.node_id == "shibalong-1")
                                              .order_by(Ticket.created_at)).all()]
    token = create_token(db, network, "baiyi", "百宜社区（后台）", START)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim.bot)),
                                 base_url="http://dash") as client:
        await log_in(client, token)
        first = (await client.get("/")).text
        assert heading(first, "一般") == PAGE_ROWS + 6          # 25 + 1 in 百宜; 荷花 is elsewhere
        assert numbers(first) == repairs[:PAGE_ROWS]             # oldest first, one page
        assert "第 1/2 页" in first and 'rel="prev"' not in first
        following = re.search(r'rel="next" href="([^"]+)"', first)[1]
        second = (await client.get(following.replace("&amp;", "&"))).text
        assert numbers(second)[:5] == repairs[PAGE_ROWS:] and 'rel="prev"' in second

        # Narrowed to a grid and a category: the link to the next page keeps both.
        narrowed = (await client.get("/?node=shibalong-1&category=repair")).text
        assert heading(narrowed, "一般") == PAGE_ROWS + 5
        link = re.search(r'rel="next" href="([^"]+)"', narrowed)[1].replace("&amp;", "&")
        assert "node=shibalong-1" in link and "category=repair" in link
        assert numbers((await client.get(link)).text) == repairs[PAGE_ROWS:]
        sanitation = (await client.get("/?category=sanitation")).text
        assert heading(sanitation, "一般") == 1 and len(numbers(sanitation)) == 1
        # Nothing overdue yet; three hours on, all of them (2 h claim timer).
        assert heading((await client.get("/?overdue=1")).text, "一般") == 0
        clock.advance(hours=3)
        assert heading((await client.get("/?overdue=1")).text, "一般") == PAGE_ROWS + 6
        # A node outside the token's subtree, a page past the end, nonsense: the token's own
        # view, the last page, no error.
        elsewhere = (await client.get("/?node=hehua-1&page=abc&category=nope")).text
        assert heading(elsewhere, "一般") == PAGE_ROWS + 6 and numbers(elsewhere)[0] == repairs[0]
        last = (await client.get("/?page=99")).text
        assert "第 2/2 页" in last and 'rel="next"' not in last


async def test_the_top_still_sees_a_ticket_whose_grid_left_the_network(sim, db, config, clock):
    await sim.say(HEHUA, "wxid_ry", "下单 2号楼楼道灯不亮", name="钱先生")
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    village = data["network"]["children"][1]
    assert village["id"] == "hehua"
    data["network"]["children"].remove(village)          # 荷花社区 leaves the network
    smaller = Network(parse_config(data))
    bot = Bot(smaller.config, db, sim, smaller, clock=clock)
    app = create_app(bot)
    top = create_token(db, smaller, "jili", "集里街道", START)
    below = create_token(db, smaller, "baiyi", "百宜社区", START)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        def bearer(token):
            return {"Authorization": f"Bearer {token}"}
        listed = (await client.get("/api/tickets", headers=bearer(top))).json()
        assert [t["number"] for t in listed["items"]] == [1] and listed["total"] == 1
        assert (await client.get("/api/tickets/1", headers=bearer(top))).status_code == 200
        assert (await client.get("/api/tickets", headers=bearer(below))).json()["total"] == 0
        assert (await client.get("/api/tickets/1", headers=bearer(below))).status_code == 404
