"""A subtree is one indexed range in SQL, whatever its size (models/subtrees.py): no statement
that a view of the top node or a village sends carries a list of node ids, in its parameters or
in its text, so Liuyang's city (33,431 nodes) costs one statement of the same size as a
micro-grid's."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import event

from api.app import create_app
from api.tokens import create_token
from bot.digest_runs import gather_digest

from conftest import START
from test_open_counts import HEAD_OF, spread  # noqa: F401 - the fixture


class Statements:
    """Every statement the engine sends while in use: (SQL text, parameters)."""

    def __init__(self, engine) -> None:
        self.engine, self.sent = engine, []

    def __enter__(self) -> "Statements":
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _connection, _cursor, statement, parameters, _context, executemany) -> None:
        rows = parameters if executemany else [parameters]
        self.sent.append((statement, [value for row in rows
                                      for value in (row.values() if isinstance(row, dict) else row)]))


def node_ids_in(statement: str, parameters: list, ids: set[str]) -> set[str]:
    named = {value for value in parameters if isinstance(value, str) and value in ids}
    quoted = {word for word in re.findall(r"'([^']*)'", statement) if word in ids}
    return named | quoted


async def test_no_statement_of_a_scoped_view_lists_node_ids(spread, sim, db, network, clock):  # noqa: F811
    ids = {node.id for node in network.nodes()}
    app = create_app(sim.bot)
    for node_id in ("jili", "baiyi"):   # the top node and a village
        token = create_token(db, network, node_id, f"sql {node_id}", START)
        headers = {"Authorization": f"Bearer {token}"}
        room, head = HEAD_OF[node_id]
        with Statements(db.engine) as seen:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://api") as client:
                for path in ("/api/network", "/api/tickets?page=1",
                             "/api/tickets?category=repair&urgent=false&overdue=true",
                             f"/api/nodes/{node_id}/figures", "/api/transport"):
                    assert (await client.get(path, headers=headers)).status_code == 200, path
                client.cookies.set("gridbot_token", token)
                page = await client.get("/")
                assert "待办" in page.text
            for command in ("待办", "统计"):
                [answer] = await sim.say(room, head, command)
                assert answer.text
            with db.session() as session:
                [digest] = gather_digest(session, sim.bot.config, network, network.node(node_id),
                                         START, clock())
                assert network.node(node_id).name in digest
        scoped = [(statement, parameters) for statement, parameters in seen.sent
                  if "ticket" in statement]
        assert len(scoped) > 20
        for statement, parameters in scoped:
            named = node_ids_in(statement, parameters, ids)
            assert len(named) <= 1, (node_id, statement, sorted(named))
