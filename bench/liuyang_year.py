"""A year of tickets in the Liuyang-sized network, and what every head and official opens on it.

    python bench/liuyang_year.py [--tickets 1000000] [--backend sqlite|postgresql|both]
                                 [--keep DIR] [--rounds 15]

Builds the database itself: the network of `bench/liuyang.py` (33,431 nodes) and one year of
tickets (1,000,000 by default; 96,351 of them open or claimed, most of those escalated to the
city, as an unwatched year leaves them), their ratings and 延期 events. Then, for a token (or
head) of the city, a township, a branch and a micro-grid, it times every chat command that reads
(待办, 统计), every API read, the dashboard, the digest and `network show`, each beside the SQL
that answers the same question measured in the same run (the baseline), and prints p50 and p95
of `--rounds` rounds. With `--keep DIR` a SQLite database built once is reused.

Targets at this scale (the issue of Liuyang scale): p95 < 200 ms in process for chat commands
and API reads; the city's dashboard < 500 ms and < 500 KB; the city's digest < 2 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from api.app import create_app  # noqa: E402
from api.tokens import create_token  # noqa: E402
from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.escalation_scan import settle  # noqa: E402
from bench.liuyang import REPO, Microgrid, liuyang_config, ready_for_commands, write_config  # noqa: E402
from bench.report import print_table, progress  # noqa: E402
from bot.digest_runs import gather_digest  # noqa: E402
from bot.runtime import Bot  # noqa: E402
from bot.transports.simulator import Simulator  # noqa: E402
from bot.transport import IncomingMessage  # noqa: E402
from flows.config import parse_config  # noqa: E402
from flows.network import Network  # noqa: E402
from models.db import Database, make_engine  # noqa: E402
from models.subtrees import sync_network  # noqa: E402
from models.tables import Status, Ticket, TicketEvent  # noqa: E402

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)   # 10:00 in Asia/Shanghai
YEAR = timedelta(days=365)
OPEN_SHARE = 96_351 / 1_000_000
CHUNK = 20_000
CATEGORIES = ("repair", "safety", "sanitation", "dispute", "security", "order", "care",
              "service", "consult", "suggestion")
RATINGS = (("满意", 0.7), ("基本满意", 0.2), ("不满意", 0.1))
# A `gridbot` command in a new process that says its peak memory (KB, Linux) on stderr last
# (after the peak of the largest worker it forked and waited for, `worker peak`):
# VmHWM of its own address space (getrusage's maxrss would count the forking bench's pages).
MEASURED_RUN = ("import re, runpy, sys\n"
                "sys.argv = ['gridbot', *sys.argv[1:]]\n"
                "try:\n    runpy.run_module('bot.cli', run_name='__main__')\n"
                "finally:\n"
                "    import resource\n"   # a worker the command forked and waited for
                "    print('worker peak', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
                " file=sys.stderr)\n"
                "    status = open('/proc/self/status').read()\n"
                "    print('maxrss', re.search(r'VmHWM:\\s+(\\d+)', status)[1], file=sys.stderr)\n")


# The baseline of a command's start: what any Python program on this database would import.
IMPORTS_ALONE = "import sqlalchemy, sqlmodel, pydantic"
COMMAND_RUNS = 3


def year_rows(count: int, grids: list[Microgrid], seed: int = 7):
    """Yields (tickets, events) chunks: `count` tickets created over the year before NOW."""
    rng = random.Random(seed)
    tickets, events = [], []
    event_id = 0
    for number in range(1, count + 1):
        grid = rng.choice(grids)
        created = NOW - YEAR * rng.random()
        row = {"id": number, "source_message_id": f"year-{number}", "group_room": grid.room,
               "node_id": grid.id, "reporter_id": f"wxid_r{rng.randrange(200_000)}",
               "reporter_name": "居民", "text": f"{grid.buildings[0]}栋楼道灯坏了，电话13812345678",
               "category": rng.choice(CATEGORIES), "urgent": rng.random() < 0.08,
               "building": str(grid.buildings[0]), "status": Status.CLOSED.value,
               "escalation_level": 0, "created_at": created}
        if rng.random() < OPEN_SHARE:
            age = NOW - created
            # An unwatched year: what waited more than two days climbed to the city.
            row["escalation_level"] = 4 if age > timedelta(days=2) else rng.randrange(4)
            if rng.random() < 0.6:
                row.update(status=Status.OPEN.value, clock_started_at=created,
                           deadline_at=created + timedelta(hours=2),
                           escalation_due_at=NOW + timedelta(minutes=rng.randrange(1, 60)))
            else:
                claimed = min(created + timedelta(minutes=rng.randrange(5, 180)), NOW)
                row.update(status=Status.CLAIMED.value, claimed_at=claimed,
                           assignee_id=grid.head_id, assignee_name="网格长",
                           clock_started_at=claimed, deadline_at=claimed + timedelta(days=1),
                           escalation_due_at=NOW + timedelta(minutes=rng.randrange(1, 60)))
        else:
            claimed = created + timedelta(minutes=rng.randrange(5, 180))
            resolved = claimed + timedelta(minutes=rng.randrange(60, 3 * 24 * 60))
            row.update(claimed_at=claimed, resolved_at=resolved, assignee_id=grid.head_id,
                       assignee_name="网格长", resolution="已处理")
            if resolved + timedelta(days=1) < NOW:
                rating = rng.choices([r for r, _ in RATINGS], [w for _, w in RATINGS])[0]
                row.update(closed_at=resolved + timedelta(hours=rng.randrange(1, 24)),
                           rating=rating)
                event_id += 1
                events.append({"id": event_id, "ticket_id": number, "kind": "rated",
                               "actor_id": row["reporter_id"], "actor_name": "居民",
                               "at": row["closed_at"], "note": rating})
            else:
                row["status"] = Status.RESOLVED.value
            if rng.random() < 0.03:
                event_id += 1
                events.append({"id": event_id, "ticket_id": number, "kind": "extension_granted",
                               "actor_id": "wxid_head", "actor_name": "负责人",
                               "at": claimed + timedelta(hours=1), "note": "3工作日"})
        tickets.append(row)
        if len(tickets) == CHUNK:
            yield tickets, events
            tickets, events = [], []
    if tickets:
        yield tickets, events


def build(database: Database, count: int, grids: list[Microgrid], label: str) -> None:
    keys = set(Ticket.__table__.c.keys())
    written = 0
    with database.engine.begin() as connection:
        for tickets, events in year_rows(count, grids):
            # Every row with every column: one INSERT statement shape for the chunk.
            connection.execute(insert(Ticket.__table__),
                               [{key: row.get(key) for key in keys} for row in tickets])
            if events:
                connection.execute(insert(TicketEvent.__table__), events)
            written += len(tickets)
            progress(written, count, f"{label}: tickets written")
    settle(database)


def timed(action, rounds: int) -> tuple[float, float, object]:
    """(p50 ms, p95 ms, the last result) of `rounds` runs of `action` after one warm-up."""
    result = action()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, result


def scopes(network: Network, grids: list[Microgrid]) -> list[tuple[str, str]]:
    township = network.root.children[0]
    branch = network.parent(grids[0].id)   # its few tickets among the city's: lists must not
    return [("city", network.root.id), ("township", township.id),   # walk everyone's to find them
            ("branch", branch.id), ("micro-grid", grids[0].id)]


def measure(database: Database, network: Network, grids: list[Microgrid], rounds: int,
            backend: str) -> list[dict]:
    config = network.config
    sync_network(database, network, NOW)
    bot = Bot(config, database, Simulator(network, clock=lambda: NOW), network, clock=lambda: NOW)
    client = TestClient(create_app(bot))
    gc.freeze()   # as `gridbot run` does once its network and app are built (bot.service.serve)
    results = []
    message_number = 0
    run = time.time_ns()

    def row(what: str, scope: str, action, baseline, size=None) -> None:
        p50, p95, answer = timed(action, rounds)
        b50, b95, _ = timed(baseline, rounds)
        extra = size(answer) if size else ""
        results.append({"backend": backend, "what": what, "scope": scope,
                        "p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
                        "baseline_p50_ms": round(b50, 1), "size": extra})
        print(f"  {backend} {scope:10} {what:34} p95 {p95:8.1f} ms  (SQL {b50:7.1f} ms) {extra}",
              file=sys.stderr, flush=True)

    def sql(statement, *params):
        def run():
            with database.engine.connect() as connection:
                return connection.execute(statement, *params).all()
        return run

    table = Ticket.__table__
    for scope, node_id in scopes(network, grids):
        node = network.node(node_id)
        scope_name = node.name
        ids = sorted(network.subtree_ids(node_id))
        # The baseline answers with the node ids written into the statement's text, as an
        # operator's hand-written query would: no binding cost, the database's own plan.
        literal = ", ".join(f"'{i}'" for i in ids)
        token = create_token(database, network, node_id, f"bench {scope} {backend} {time.time_ns()}",
                             NOW)
        headers = {"Authorization": f"Bearer {token}"}

        def get(path: str):
            def run():
                response = client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.status_code, response.text[:200])
                return response
            return run

        def kb(response) -> str:
            return f"{len(response.content) / 1024:,.0f} KB"

        open_by_node = text(f"SELECT node_id, escalation_level, count(*) FROM ticket "
                            f"WHERE node_id IN ({literal}) AND status IN "
                            f"('open', 'claimed', 'verifying') GROUP BY node_id, escalation_level")
        row("/api/network", scope, get("/api/network"), sql(open_by_node), kb)
        row("/api/tickets?page=1", scope, get("/api/tickets?page=1"),
            sql(text(f"SELECT * FROM ticket WHERE node_id IN ({literal}) "
                     f"ORDER BY id DESC LIMIT 50")))
        row("/api/tickets?category=repair&urgent", scope,
            get("/api/tickets?category=repair&urgent=true"),
            sql(text(f"SELECT * FROM ticket WHERE node_id IN ({literal}) AND category = 'repair' "
                     f"AND urgent ORDER BY id DESC LIMIT 50")))
        row("/api/nodes/{id}/figures", scope, get(f"/api/nodes/{node_id}/figures"),
            sql(text(f"SELECT count(*) FROM ticket WHERE node_id IN ({literal}) "
                     f"AND created_at >= :since"), {"since": NOW - timedelta(days=1)}))
        row("/api/transport", scope, get("/api/transport"),
            sql(select(func.count()).select_from(table).where(table.c.id < 0)))
        row("dashboard /", scope, lambda: client.get("/", cookies={"gridbot_token": token}),
            sql(open_by_node), kb)
        for keyword in ("待办", "统计"):
            def say(keyword=keyword):
                nonlocal message_number
                message_number += 1
                # Ids new in every run: a kept database has seen the last run's (a redelivery
                # would be answered by doing nothing, in no time).
                posts = bot.dispatcher.handle(IncomingMessage(
                    id=f"bench-{run}-{message_number}", room=node.group.room,
                    sender_id=node.head.id, sender_name=node.head.name, text=keyword, at=NOW))
                assert posts and scope_name in posts[0].text, posts
                return posts
            row(f"chat {keyword}", scope, say,
                sql(text(f"SELECT status, count(*) FROM ticket WHERE node_id IN ({literal}) "
                         f"GROUP BY status")))
        if scope != "micro-grid":
            def digest():
                with database.session() as session:
                    return gather_digest(session, config, network, node, NOW - timedelta(days=1),
                                         NOW)
            row("digest (a day)", scope, digest,
                sql(text(f"SELECT count(*) FROM ticket WHERE node_id IN ({literal}) "
                         f"AND status IN ('open', 'claimed', 'verifying') "
                         f"AND deadline_at < :now"), {"now": NOW}), lambda m: f"{len(m[0]):,} chars")
    client.close()
    return results


def _process_seconds(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO, capture_output=True, check=True)
    return time.perf_counter() - started


def command_costs(database: Database, grids: list[Microgrid], backend: str) -> list[dict]:
    """`gridbot network show`, `gridbot digest` for the city, `tickets list` and a `gridbot
    chat` answering one head's `收到` as a newcomer runs them: a new process each, timed from
    start to exit (median of `COMMAND_RUNS`), with its peak memory (max RSS), beside a process
    that only imports the libraries every such command needs (SQLAlchemy, SQLModel, pydantic)."""
    results = []
    grid = grids[0]
    receipt = json.dumps({"room": grid.room, "sender": grid.head_id, "name": "网格长",
                          "text": "收到", "at": NOW.isoformat()}, ensure_ascii=False) + "\n"
    with tempfile.TemporaryDirectory() as scratch:
        config = write_config(Path(scratch) / "liuyang.yaml")
        env = {**os.environ, "GRIDBOT_DATABASE_URL": database.url}
        ready_for_commands(config, env)
        for what, arguments, given in (
                ("gridbot network show", ["network", "show"], ""),
                ("gridbot digest (city, a day)", ["digest", "--node", "liuyang"], ""),
                ("gridbot tickets list --limit 1", ["tickets", "list", "--limit", "1"], ""),
                ("gridbot chat, one 收到", ["chat"], receipt)):
            runs, baselines = [], []
            for _ in range(COMMAND_RUNS):   # each beside the libraries' import alone, in turn
                baselines.append(_process_seconds([sys.executable, "-c", IMPORTS_ALONE], env))
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", MEASURED_RUN, *arguments,
                                       "--config", str(config)], env=env, cwd=REPO,
                                      capture_output=True, input=given.encode())
                runs.append(time.perf_counter() - started)
                if done.returncode != 0:
                    raise RuntimeError(f"{what}: {done.stderr.decode()[-500:]}")
            seconds, baseline = statistics.median(runs), statistics.median(baselines)
            peak_mb = int(done.stderr.decode().rsplit("maxrss ", 1)[1]) / 1024
            results.append({"backend": backend, "what": what, "seconds": round(seconds, 2),
                            "baseline_s": round(baseline, 2), "peak_mb": round(peak_mb),
                            "lines": done.stdout.count(b"\n")})
            print(f"  {backend} {what:34} {seconds:6.2f} s ({seconds / baseline:.1f}× the "
                  f"imports alone) {peak_mb:6.0f} MB", file=sys.stderr, flush=True)
    return results


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--tickets", type=int, default=1_000_000)
    options.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    options.add_argument("--rounds", type=int, default=15)
    options.add_argument("--keep", type=Path, help="A folder to keep (and reuse) the SQLite "
                                                   "database in.")
    options.add_argument("--url", help="A database to measure instead of a fresh one (e.g. a "
                                       "PostgreSQL database kept from a run): built when it "
                                       "holds no ticket.")
    arguments = options.parse_args()
    grids: list[Microgrid] = []
    network = Network(parse_config(liuyang_config(grids)))
    backends = BACKENDS if arguments.backend == "both" else (arguments.backend,)
    if arguments.url:
        backends = (make_engine(arguments.url).dialect.name,)
    results, commands = [], []
    for backend in backends:
        with tempfile.TemporaryDirectory() as scratch, fresh_databases(
                "sqlite" if arguments.url else backend, Path(scratch)) as new:
            if arguments.url:
                database = Database(arguments.url)
                with database.engine.connect() as connection:
                    if not connection.execute(select(func.count()).select_from(Ticket.__table__)).scalar():
                        build(database, arguments.tickets, grids, backend)
            elif backend == "sqlite" and arguments.keep:
                arguments.keep.mkdir(parents=True, exist_ok=True)
                file = arguments.keep / f"year_{arguments.tickets}.sqlite3"
                fresh = not file.exists()
                database = Database(f"sqlite:///{file}")
                if fresh:
                    build(database, arguments.tickets, grids, backend)
            else:
                database = Database(new("year"))
                build(database, arguments.tickets, grids, backend)
            with database.engine.connect() as connection:
                total, waiting = connection.execute(select(
                    func.count(), func.count().filter(Ticket.status.in_(("open", "claimed"))))
                    .select_from(Ticket.__table__)).one()
            print(f"{backend}: {total:,} tickets, {waiting:,} open or claimed", file=sys.stderr)
            results += measure(database, network, grids, arguments.rounds, backend)
            commands += command_costs(database, grids, backend)
            database.dispose()
    print(f"\n{arguments.tickets:,} tickets over a year, {len(network):,} nodes; "
          f"in process, {arguments.rounds} rounds after a warm-up")
    print_table(("backend", "scope", "what", "p50", "p95", "SQL (baseline)", "size"), [
        (r["backend"], r["scope"], r["what"], f"{r['p50_ms']:.1f} ms", f"{r['p95_ms']:.1f} ms",
         f"{r['baseline_p50_ms']:.1f} ms", r["size"]) for r in results])
    print("\ncommands in a new process each (config of 33,431 nodes read and checked every time)")
    print_table(("backend", "command", "time", "imports alone (baseline)", "peak memory",
                 "lines out"), [
        (c["backend"], c["what"], f"{c['seconds']:.2f} s", f"{c['baseline_s']:.2f} s",
         f"{c['peak_mb']:,} MB", f"{c['lines']:,}") for c in commands])
    for result in results + commands:
        print(json.dumps({"bench": "liuyang_year", **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
