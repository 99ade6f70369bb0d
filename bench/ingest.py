"""Messages per second through the whole path, on the Liuyang-sized network: store the inbound
message, parse it, route it, create the ticket, write the reply to the outbox and deliver it
through the simulator, `下单` after `下单` as a chat gateway hands them over: one at a time,
and with many in flight (messages from many groups arriving together).

    python bench/ingest.py [--messages N] [--in-flight K] [--backend sqlite|postgresql|both]

The baseline, measured in the same run with the same driver, inserts the very rows the path
wrote (message, ticket, events, posts), one transaction per message: what storing alone costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import Table, insert, select  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.liuyang import Microgrid, liuyang_config  # noqa: E402
from bench.report import print_table, progress  # noqa: E402
from bot.runtime import Bot  # noqa: E402
from bot.transports.simulator import Simulator  # noqa: E402
from flows.config import parse_config  # noqa: E402
from flows.network import Network  # noqa: E402
from models.db import Database  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "requests_tune.jsonl"
WARM_UP = 50  # messages before the clock starts: caches, prepared statements, the model
TARGET_SQLITE = 1_000  # messages per second


def request_texts() -> list[str]:
    with open(DATA, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row["text"] for row in rows if row["is_request"] and row["text"].startswith("下单")]


async def run_path(url: str, network: Network, grids: list[Microgrid], count: int,
                   in_flight: int) -> float:
    """Seconds for `count` requests through the whole path (after a warm-up), with up to
    `in_flight` messages handed over at once, as a gateway with many busy groups does."""
    config = network.config
    simulator = Simulator(network)
    simulator.attach(Bot(config, Database(url), simulator, network))
    rng = random.Random(11)
    texts = request_texts()
    messages = [(rng.choice(grids).room, f"wxid_resident{rng.randrange(100_000)}", rng.choice(texts))
                for _ in range(WARM_UP + count)]
    for room, sender, text in messages[:WARM_UP]:
        await simulator.say(room, sender, text)
    slots = asyncio.Semaphore(in_flight)
    done = 0

    async def hand_over(room: str, sender: str, text: str) -> None:
        nonlocal done
        async with slots:
            await simulator.say(room, sender, text)
        done += 1
        progress(done, count, f"path, {in_flight} in flight")

    started = time.perf_counter()
    await asyncio.gather(*(hand_over(*message) for message in messages[WARM_UP:]))
    elapsed = time.perf_counter() - started
    if len(simulator.posts) != WARM_UP + count:
        raise AssertionError(f"{WARM_UP + count} requests but {len(simulator.posts)} replies delivered")
    simulator.bot.db.dispose()
    return elapsed


def rows_per_message(url: str, skip: int) -> list[list[tuple[Table, dict]]]:
    """The rows the path wrote, grouped by the message that caused them (warm-up left out)."""
    tables = SQLModel.metadata.tables
    database = Database(url, migrate=False)
    with database.engine.connect() as connection:
        def rows(name: str) -> list[dict]:
            table = tables[name]
            return [dict(row._mapping) for row in connection.execute(select(table).order_by(table.c.id))]
        inbound, tickets, events, posts = (rows(name) for name in
                                           ("inbound_message", "ticket", "ticket_event", "outbound_post"))
    database.dispose()
    ticket_by_message = {ticket["source_message_id"]: ticket for ticket in tickets}
    events_by_ticket: dict[int, list[dict]] = {}
    for event in events:
        events_by_ticket.setdefault(event["ticket_id"], []).append(event)
    if len(posts) != len(inbound):
        raise AssertionError(f"{len(inbound)} messages but {len(posts)} posts: one reply each expected")
    grouped = []
    for message, post in list(zip(inbound, posts))[skip:]:
        ticket = ticket_by_message[message["message_id"]]
        grouped.append([(tables["inbound_message"], message), (tables["ticket"], ticket),
                        *((tables["ticket_event"], event) for event in events_by_ticket[ticket["id"]]),
                        (tables["outbound_post"], post)])
    return grouped


def run_baseline(url: str, grouped: list[list[tuple[Table, dict]]]) -> float:
    """Seconds to insert the same rows, one transaction per message, with the same driver."""
    database = Database(url)
    started = time.perf_counter()
    for done, rows in enumerate(grouped, 1):
        with database.engine.begin() as connection:
            for table, row in rows:
                connection.execute(insert(table), row)
        progress(done, len(grouped), "baseline")
    elapsed = time.perf_counter() - started
    database.dispose()
    return elapsed


def measure(backend: str, network: Network, grids: list[Microgrid], count: int,
            in_flight: int) -> list[dict]:
    print(f"{backend}:")
    results = []
    with tempfile.TemporaryDirectory() as scratch, fresh_databases(backend, Path(scratch)) as new:
        baseline_s = None
        for flight in sorted({1, in_flight}):
            path_url = new(f"ingest_{flight}")
            path_s = asyncio.run(run_path(path_url, network, grids, count, flight))
            if baseline_s is None:
                baseline_s = run_baseline(new("baseline"), rows_per_message(path_url, WARM_UP))
            results.append({"bench": "ingest", "backend": backend, "messages": count,
                            "in_flight": flight, "path_per_s": round(count / path_s),
                            "baseline_per_s": round(count / baseline_s),
                            "ratio": round(baseline_s / path_s, 3)})
    return results


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--messages", type=int, default=3_000)
    options.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    options.add_argument("--in-flight", type=int, default=100,
                         help="messages handed over at once (also measured: 1)")
    arguments = options.parse_args()
    grids: list[Microgrid] = []
    network = Network(parse_config(liuyang_config(grids)))
    backends = BACKENDS if arguments.backend == "both" else (arguments.backend,)
    results = [result for backend in backends
               for result in measure(backend, network, grids, arguments.messages, arguments.in_flight)]
    print(f"\n{arguments.messages:,} 下单 messages in {len(grids):,} micro-grid groups; baseline: "
          "the same rows inserted, one transaction per message")
    print_table(("backend", "in flight", "whole path", "baseline inserts", "path ÷ baseline", "target"), [
        (result["backend"], str(result["in_flight"]), f"{result['path_per_s']:,} msg/s",
         f"{result['baseline_per_s']:,} msg/s",
         f"{result['ratio']:.2f}", f"≥ {TARGET_SQLITE:,} msg/s" if result["backend"] == "sqlite" else "")
        for result in results])
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
