"""One definition of "open in my subtree" and of "overdue" (flows/open_tickets.py): the
dashboard's headline, its chart, `/api/network`, the figures, and chat's 待办 and 统计 give the
same numbers, with tickets escalated (吹哨) within and past a subtree, claimed, open, overdue and
resolved, at several levels."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from api.app import create_app
from api.schemas import NodeOut
from api.tokens import create_token
from flows import texts
from flows.config import parse_config
from flows.network import Network
from flows.open_tickets import (OpenCount, OpenGroup, count_open, group_open, is_open, is_overdue,
                                open_groups, open_in, overdue_at)
from models.subtrees import in_subtree, sync_network
from models.tables import GridNode, Status, Ticket

from conftest import REPO, START
from test_csrf import token_in

S1, S2, B1, B2_1, HEHUA_1 = ("shibalong-1@chatroom", "shibalong-2@chatroom", "baiyi-b1@chatroom",
                             "baiyi-b2-1@chatroom", "hehua-1@chatroom")
QIU, LIU, WANG, HE = "wxid_qiu_huanwu", "wxid_liu_jianguo", "wxid_wang_guoqiang", "wxid_he_ping"
HEAD_OF = {"shibalong-1": (S1, QIU), "baiyi-b1": (B1, WANG), "baiyi": ("baiyi@chatroom",
           "wxid_li_wenhua"), "jili": ("jili@chatroom", "wxid_chen_jie")}

# token's node → (open, overdue) in its subtree, and the chart's rows (level or "above" → counts)
EXPECTED = {
    "shibalong-1": ((3, 2), {"microgrid": (2, 1), "above": (1, 1)}),
    "baiyi-b1": ((4, 2), {"branch": (0, 0), "microgrid": (3, 1), "above": (1, 1)}),
    "baiyi": ((5, 2), {"village": (1, 1), "branch": (1, 0), "microgrid": (3, 1), "above": (0, 0)}),
    "jili": ((6, 2), {"township": (0, 0), "village": (1, 1), "branch": (1, 0),
                      "microgrid": (4, 1)}),
}


@pytest.fixture
async def spread(sim, clock):
    """Tickets at several levels:
    #1 石坝垅一 open, overdue later;  #2 石坝垅一 claimed;  #3 石坝垅一 whistled up twice (to
    百宜社区), overdue later;  #4 石坝垅二 resolved (not open);  three hours later: #5 新村一
    whistled up to 第二党支部;  #6 荷花一 open (another village);  #7 石坝垅二 open."""
    await sim.say(S1, "wxid_r1", "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    await sim.say(S1, "wxid_r2", "下单 5号楼水管漏水", name="李叔叔")
    await sim.say(S1, QIU, "接单 #2")
    await sim.say(S1, "wxid_r3", "下单 6号楼门口垃圾没人清", name="王奶奶")
    await sim.say(S1, QIU, "吹哨 #3 需要支部协调")
    await sim.say(B1, WANG, "吹哨 #3 需要社区协调")
    await sim.say(S2, "wxid_r4", "下单 8号楼路灯坏了", name="赵大爷")
    await sim.say(S2, LIU, "接单 #4")
    await sim.say(S2, LIU, "办结 #4 已换灯泡")
    clock.advance(hours=3)   # past the 2-hour claim timer of #1 and #3
    await sim.say(B2_1, "wxid_r5", "下单 1号楼电梯坏了", name="孙阿姨")
    await sim.say(B2_1, HE, "吹哨 #5 需要支部协调")
    await sim.say(HEHUA_1, "wxid_r6", "下单 2号楼楼道灯不亮", name="钱先生")
    await sim.say(S2, "wxid_r7", "下单 9号楼下水道堵了", name="周先生")
    return sim


async def dashboard_numbers(client: httpx.AsyncClient, token: str):
    """(headline (open, overdue), chart rows {key: (open, overdue)}) of the dashboard page."""
    form = await client.get("/")
    await client.post("/login", data={"token": token, "csrftoken": token_in(form.text)})
    page = (await client.get("/")).text
    client.cookies.delete("gridbot_token")
    headline = re.search(r"<h1>.*?待办 (\d+) 张，超期 (\d+) 张</h1>", page)
    chart = {key: (int(opened), int(late)) for key, opened, late in re.findall(
        r'<g data-key="([^"]+)" data-open="(\d+)" data-overdue="(\d+)">', page)}
    return (int(headline[1]), int(headline[2])), chart


def walk(node: dict):
    yield node
    for child in node["children"]:
        yield from walk(child)


async def test_headline_chart_api_and_chat_count_open_tickets_alike(spread, sim, db, network,
                                                                    clock):
    with db.session() as session:
        tickets = {t.id: t for t in session.exec(select(Ticket)).all()}
    assert tickets[3].escalation_level == 2 and tickets[5].escalation_level == 1
    assert tickets[4].status == Status.RESOLVED and tickets[2].status == Status.CLAIMED
    app = create_app(sim.bot)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://dashboard") as client:
        for node_id, (headline, rows) in EXPECTED.items():
            token = create_token(db, network, node_id, f"token of {node_id}", START)
            assert await dashboard_numbers(client, token) == (headline, rows), node_id

            tree = (await client.get("/api/network",
                                     headers={"Authorization": f"Bearer {token}"})).json()
            assert (tree["subtree_open"], tree["subtree_overdue"]) == headline, node_id
            above = (tree["escalated_above_open"], tree["escalated_above_overdue"])
            assert above == rows.get("above", (0, 0)), node_id
            for level, counts in rows.items():
                if level != "above":   # the chart's levels: where the tickets stand now
                    standing = [(n["open"], n["overdue"]) for n in walk(tree) if n["level"] == level]
                    assert tuple(map(sum, zip(*standing))) == counts, (node_id, level)
            for node in walk(tree):   # every node: its subtree = standing below it + above it
                below = [n["open"] for n in walk(node)]
                assert node["subtree_open"] == sum(below) + node["escalated_above_open"], node["id"]

            figures = (await client.get(f"/api/nodes/{node_id}/figures",
                                        headers={"Authorization": f"Bearer {token}"})).json()
            assert figures["overdue"] == headline[1], node_id

            room, head = HEAD_OF[node_id]
            scope = network.node(node_id).name
            [todo] = await sim.say(room, head, "待办")
            assert todo.text.startswith(texts.TODO_HEADER.format(scope=scope, count=headline[0]))
            [stats] = await sim.say(room, head, "统计")
            shown = re.search(r"待接单 (\d+)，处理中 (\d+)", stats.text)
            assert int(shown[1]) + int(shown[2]) == headline[0], node_id

    # Below a subtree's top, each node's own subtree: 石坝垅一's #3 stands two levels above it.
    tree = await client_tree(sim, db, network, "baiyi")
    shibalong_1 = next(n for n in walk(tree) if n["id"] == "shibalong-1")
    assert (shibalong_1["open"], shibalong_1["subtree_open"],
            shibalong_1["escalated_above_open"]) == (2, 3, 1)
    assert (tree["open"], tree["overdue"]) == (1, 1)   # #3 stands at 百宜社区 now


async def client_tree(sim, db, network, node_id: str) -> dict:
    token = create_token(db, network, node_id, f"another token of {node_id}", START)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim.bot)),
                                 base_url="http://api") as client:
        return (await client.get("/api/network",
                                 headers={"Authorization": f"Bearer {token}"})).json()


async def test_the_sql_conditions_and_the_predicates_agree(spread, db, network, clock):
    now = clock()
    subtree = network.subtree_ids("baiyi-b1")
    with db.session() as session:
        everything = session.exec(select(Ticket)).all()
        loaded_open = {t.id for t in session.exec(
            select(Ticket).where(open_in(in_subtree(network, "baiyi-b1")))).all()}
        loaded_late = {t.id for t in session.exec(select(Ticket).where(overdue_at(now))).all()}
        on_time = {t.id for t in session.exec(select(Ticket).where(~overdue_at(now))).all()}
    assert loaded_open == {t.id for t in everything if is_open(t) and t.node_id in subtree}
    assert loaded_late == {t.id for t in everything if is_overdue(t, now)} == {1, 3}
    assert on_time == {t.id for t in everything} - loaded_late
    figures = count_open(network, "baiyi-b1", group_open(everything, now))  # others left out
    assert (figures.total.open, figures.total.overdue) == (4, 2)
    # Past every deadline, every open ticket is overdue.
    later = now + timedelta(days=30)
    assert count_open(network, "jili", group_open(everything, later)).total.overdue == 6


async def test_every_subtree_in_sql_is_the_subtree_of_the_network(spread, db, network, clock):
    """Both forms of `in_subtree` select exactly the tickets whose home node is in the subtree,
    for every node; the counts by home node and level in SQL are those of the loaded tickets."""
    now = clock()
    with db.session() as session:
        everything = session.exec(select(Ticket)).all()
        for node in network.nodes():
            mine = {t.id for t in everything if t.node_id in network.subtree_ids(node.id)}
            for per_row in (False, True):
                found = session.exec(select(Ticket.id).where(
                    in_subtree(network, node.id, per_row=per_row))).all()
                assert set(found) == mine, (node.id, per_row)
            in_sql = {(g.node_id, g.escalation_level, g.open, g.overdue) for g in (
                OpenGroup(*row) for row in session.exec(
                    open_groups(in_subtree(network, node.id), now)))}
            loaded = {(g.node_id, g.escalation_level, g.open, g.overdue)
                      for g in group_open(everything, now) if g.node_id in network.subtree_ids(node.id)}
            assert in_sql == loaded, node.id
            # The top node's figures alone (the dashboard's) agree with the full ones.
            groups = group_open(everything, now)
            full = count_open(network, node.id, groups)
            light = count_open(network, node.id, groups, per_node=False)
            assert (light.total, light.by_level) == (full.total, full.by_level), node.id
            assert (light.subtree(node.id), light.escalated_above(node.id)) == \
                (full.subtree(node.id), full.escalated_above(node.id)), node.id


def test_a_moved_node_is_a_new_shape_and_the_old_one_stays_for_its_instance(db, config, network,
                                                                            clock):
    """A config that moves a micro-grid to another branch numbers the tree anew; an instance
    still running the old config keeps its own numbering, until unused for a month."""
    sync_network(db, network, clock())
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    other = Network(parse_config({**data, "network": _move(data["network"], "shibalong-3",
                                                           to="baiyi-b2")}))
    assert other.fingerprint != network.fingerprint
    assert sync_network(db, other, clock()) is True
    assert sync_network(db, other, clock()) is False          # written once
    assert "shibalong-3" in other.subtree_ids("baiyi-b2")
    with db.session() as session:
        def where(net, node_id):
            return {row for row in session.exec(select(GridNode.node_id).where(
                in_subtree(net, node_id, GridNode.node_id), GridNode.fingerprint == net.fingerprint))}
        assert where(other, "baiyi-b2") == set(other.subtree_ids("baiyi-b2"))
        assert where(network, "baiyi-b2") == set(network.subtree_ids("baiyi-b2"))
    assert sync_network(db, other, clock() + timedelta(days=40)) is False
    # A month on, a third shape is written and the unused first one is dropped; the second,
    # in use, stays.
    third = Network(parse_config({**data, "network": _move(data["network"], "shibalong-2",
                                                           to="baiyi-b2")}))
    assert sync_network(db, third, clock() + timedelta(days=40)) is True
    with db.session() as session:
        shapes = set(session.exec(select(GridNode.fingerprint).distinct()).all())
    assert shapes == {other.fingerprint, third.fingerprint}


def test_a_numbering_written_is_analysed_for_the_planner(db, clock):
    """Every subtree test joins grid_node: once a numbering is written its statistics are fresh
    (else PostgreSQL planned a township's figures at 290 ms instead of 54 until autovacuum came,
    and SQLite never gathers them by itself)."""
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    moved = Network(parse_config({**data, "network": _move(data["network"], "shibalong-3",
                                                           to="baiyi-b2")}))
    assert sync_network(db, moved, clock()) is True
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            analysed = connection.exec_driver_sql(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'grid_node'").scalar() > 0
        else:
            analysed = connection.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'grid_node' "
                "AND relnamespace = current_schema()::regnamespace").scalar() > 0
    assert analysed


def test_the_open_tickets_are_counted_in_their_index_s_order_without_a_sort(db, network, clock):
    """The open counts of the whole tree (`/api/network` at the top, 30,000 groups at Liuyang's
    scale) read the open tickets' index in the order they are grouped: a sort of its 96,000
    entries took half of the statement's time."""
    statement = open_groups(in_subtree(network, network.root.id), clock())
    sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "ix_ticket_open" in plan and "TEMP B-TREE" not in plan, plan
        else:   # a small table would be scanned and sorted or hashed: ask for a plan without a
            # sort, which only an index in the grouping's order can give
            for setting in ("enable_seqscan", "enable_hashagg", "enable_bitmapscan", "enable_sort"):
                connection.exec_driver_sql(f"SET {setting} = off")
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))
            assert "ix_ticket_open" in plan and "Sort" not in plan, plan


def _move(tree: dict, node_id: str, to: str) -> dict:
    """A copy of the config's tree with `node_id` moved under `to`."""
    tree = copy.deepcopy(tree)
    found = []

    def cut(node):
        for child in list(node.get("children", ())):
            if child["id"] == node_id:
                node["children"].remove(child)
                found.append(child)
            else:
                cut(child)

    def paste(node):
        if node["id"] == to:
            node.setdefault("children", []).append(found[0])
        for child in node.get("children", ()):
            paste(child)

    cut(tree)
    paste(tree)
    return tree


async def test_the_tree_cut_to_a_depth_keeps_every_count(spread, sim, db, network):
    """`/api/network?depth=N`: N levels below the token's node, each with the same counts as in
    the whole tree (a city asks for its townships without 33,000 nodes below them)."""
    token = create_token(db, network, "jili", "depth", START)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim.bot)),
                                 base_url="http://api") as client:
        async def tree(query: str) -> dict:
            response = await client.get(f"/api/network{query}",
                                        headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return response.json()

        whole, one, none = await tree(""), await tree("?depth=1"), await tree("?depth=0")
        # The JSON written by hand is the documented model's, key for key.
        assert NodeOut.model_validate(whole).model_dump(mode="json") == whole
        assert list(whole) == list(NodeOut.model_fields)
        assert none["children"] == [] and none["subtree_open"] == whole["subtree_open"] == 6
        assert [c["id"] for c in one["children"]] == [c["id"] for c in whole["children"]]
        assert all(c["children"] == [] for c in one["children"])
        assert [{k: v for k, v in c.items() if k != "children"} for c in one["children"]] == \
            [{k: v for k, v in c.items() if k != "children"} for c in whole["children"]]
        assert (await client.get("/api/network?depth=-1", headers={
            "Authorization": f"Bearer {token}"})).status_code == 422


def test_two_instances_starting_at_once_write_a_new_shape_once(db, clock):
    """Two bots starting together with the same new config: one writes the numbering, the other
    finds it written (its insert collides on the key and is dropped), neither fails."""
    import threading

    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    shape = Network(parse_config({**data, "network": _move(data["network"], "shibalong-3",
                                                           to="hehua-b1")}))
    start, results, errors = threading.Barrier(2), [], []

    def instance() -> None:
        start.wait()
        try:
            results.append(sync_network(db, shape, clock()))
        except Exception as error:  # noqa: BLE001 - the test reports it
            errors.append(error)

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(results) == [False, True]
    with db.session() as session:
        rows = session.exec(select(GridNode.node_id).where(
            GridNode.fingerprint == shape.fingerprint)).all()
    assert sorted(rows) == sorted(node.id for node in shape.nodes())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 4), st.integers(0, 5),
                          st.integers(0, 5)), max_size=30), st.integers(0, 100))
def test_every_node_s_figures_are_its_subtree_s_tickets_counted_by_hand(network, rows, pick):
    """`count_open` (prefix sums over the depth-first order) against a count node by node: what
    stands at each node, what its subtree holds, what stands above it; for any root, any
    groups, including a node that left the network."""
    ids = network.order
    root = ids[pick % len(ids)]
    groups = [OpenGroup(ids[n % len(ids)], level, opened, min(late, opened))
              for n, level, opened, late in rows] + [OpenGroup("gone", 0, 3, 1)]
    figures = count_open(network, root, groups)
    subtree = network.subtree_ids(root)

    def where(group):
        chain = network.chain(group.node_id)
        return chain[min(group.escalation_level, len(chain) - 1)]

    mine = [g for g in groups if g.node_id in subtree]
    for node_id in subtree:
        below = network.subtree_ids(node_id)
        inside = [g for g in mine if g.node_id in below]
        within = [g for g in inside if where(g) in below]
        standing = [g for g in mine if where(g) == node_id]

        def count(some):
            return OpenCount(sum(g.open for g in some), sum(g.overdue for g in some))

        assert figures.at(node_id) == count(standing), node_id
        assert figures.subtree(node_id) == count(inside), node_id
        assert figures.escalated_above(node_id) == OpenCount(
            count(inside).open - count(within).open,
            count(inside).overdue - count(within).overdue), node_id
    assert figures.total == count(mine)


def test_a_small_subtree_is_read_from_its_own_rows_even_when_rows_are_to_be_tested_one_by_one():
    # Listing the newest 20 of a branch by walking the whole network's rows in order and testing
    # each found 20 only after some 20 ÷ its share of them (models.subtrees.PER_ROW_SHARE).
    def grid(name: str, building: int) -> dict:
        return {"id": name, "level": "microgrid", "name": name,
                "group": {"room": f"{name}@chatroom", "name": name},
                "head": {"id": f"wxid_{name}", "name": f"head {name}"},
                "covers": [f"{building + 1}栋"]}

    def branch(name: str, grids: int) -> dict:
        return {"id": name, "level": "branch", "name": name,
                "group": {"room": f"{name}@chatroom", "name": name},
                "head": {"id": f"wxid_{name}", "name": f"head {name}"},
                "children": [grid(f"{name}-g{i}", i) for i in range(grids)]}

    top = {**branch("top", 0), "level": "township", "children": [
        branch("small", 1), branch("large", 40), *(branch(f"b{i}", 1) for i in range(70))]}
    network = Network(parse_config({"levels": ["township", "branch", "microgrid"],
                                    "network": top}))
    assert len(network) == 184

    def form(node_id: str) -> str:
        return str(in_subtree(network, node_id, per_row=True).compile())

    assert "EXISTS" not in form("small") and " IN (" in form("small")   # 2 of 184 nodes
    assert "EXISTS" in form("large")                                      # 41 of 184 nodes
