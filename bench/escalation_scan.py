"""One escalation scan (吹哨) over many open tickets spread over the Liuyang-sized network, a
share of them due: the time the scan takes and the posts it makes, at several sizes.

    python bench/escalation_scan.py [--sizes 10000,100000,1000000] [--due-share 0.05]
                                    [--backend sqlite|postgresql|both]

A scan should cost in proportion to the due tickets, not to all of them: the table shows the time
per due ticket at each size, and a second scan at each size with a fixed 1,000 due tickets.
The baseline is reading the due tickets' rows alone (the index lookup every scan starts with).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import insert, select  # noqa: E402

from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.liuyang import Microgrid, liuyang_config  # noqa: E402
from bench.report import print_table, progress  # noqa: E402
from bot import sweeps  # noqa: E402
from flows.config import parse_config  # noqa: E402
from flows.network import Network  # noqa: E402
from models.db import Database  # noqa: E402
from models.tables import Status, Ticket  # noqa: E402

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # 10:00 in Asia/Shanghai: no quiet hours
FIXED_DUE = 1_000
INSERT_CHUNK = 10_000
TARGET_SECONDS = 2.0  # 100,000 open on SQLite


def ticket_rows(count: int, due: int, grids: list[Microgrid], first_id: int) -> list[dict]:
    """`count` open tickets in random micro-grids; the first `due` of them are due now."""
    rng = random.Random(count * 31 + due)
    rows = []
    for number in range(count):
        grid = rng.choice(grids)
        is_due = number < due
        created = NOW - (timedelta(hours=3) if is_due else timedelta(minutes=rng.randrange(1, 100)))
        rows.append({
            "id": first_id + number, "source_message_id": f"bench-{first_id + number}",
            "group_room": grid.room, "node_id": grid.id, "reporter_id": f"wxid_r{number}",
            "reporter_name": "居民", "text": f"{grid.buildings[0]}栋楼道灯坏了",
            "category": "repair", "urgent": False, "status": Status.OPEN.value,
            "escalation_level": 0, "created_at": created, "clock_started_at": created,
            "deadline_at": created + timedelta(hours=2),
            "escalation_due_at": created + timedelta(hours=2),
        })
    rng.shuffle(rows)  # due tickets scattered through the table, not first in it
    return rows


def fill(database: Database, rows: list[dict], label: str) -> None:
    table = Ticket.__table__
    with database.engine.begin() as connection:
        for start in range(0, len(rows), INSERT_CHUNK):
            connection.execute(insert(table), rows[start:start + INSERT_CHUNK])
            progress(min(start + INSERT_CHUNK, len(rows)), len(rows), f"{label}: tickets written")


def settle(database: Database) -> None:
    """What a live database has done long before a scan: the bulk load checkpointed out of
    SQLite's write-ahead log, PostgreSQL's table vacuumed; statistics gathered on both."""
    if database.engine.dialect.name == "sqlite":
        with database.engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.exec_driver_sql("ANALYZE")
    else:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE ticket")


def scan(url: str, network: Network, open_count: int, due: int, grids: list[Microgrid],
         label: str) -> dict:
    database = Database(url)
    fill(database, ticket_rows(open_count, due, grids, 1), label)
    settle(database)
    started = time.perf_counter()
    with database.engine.connect() as connection:  # the baseline: find and read the due rows
        found = connection.execute(select(Ticket.__table__).where(
            Ticket.escalation_due_at <= NOW)).all()
    baseline_s = time.perf_counter() - started
    started = time.perf_counter()
    posts = sweeps.escalate_due(network.config, database, network, NOW)
    scan_s = time.perf_counter() - started
    database.dispose()
    if len(found) != due or len(posts) != due:
        raise AssertionError(f"{due} due: {len(found)} read, {len(posts)} posts")
    return {"open": open_count, "due": due, "scan_s": round(scan_s, 3), "posts": len(posts),
            "ms_per_due": round(scan_s / due * 1000, 3), "baseline_s": round(baseline_s, 3)}


def measure(backend: str, network: Network, grids: list[Microgrid], sizes: list[int],
            due_share: float) -> list[dict]:
    print(f"{backend}:")
    results = []
    with tempfile.TemporaryDirectory() as scratch, fresh_databases(backend, Path(scratch)) as new:
        for size in sizes:
            for due, kind in ((round(size * due_share), "share"), (min(FIXED_DUE, size), "fixed")):
                result = scan(new(f"scan_{size}_{kind}"), network, size, due, grids,
                              f"{size:,} open, {due:,} due")
                results.append({"bench": "escalation_scan", "backend": backend, **result})
    return results


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--sizes", default="10000,100000,1000000")
    options.add_argument("--due-share", type=float, default=0.05)
    options.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    arguments = options.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    grids: list[Microgrid] = []
    network = Network(parse_config(liuyang_config(grids)))
    backends = BACKENDS if arguments.backend == "both" else (arguments.backend,)
    results = [result for backend in backends
               for result in measure(backend, network, grids, sizes, arguments.due_share)]
    print("\none scan each; normal tickets unclaimed past their 2 h claim timer are due "
          "(one level up, one post each)")
    print_table(("backend", "open", "due", "scan", "posts", "per due ticket",
                 "baseline: read due rows"), [
        (r["backend"], f"{r['open']:,}", f"{r['due']:,}", f"{r['scan_s']:.2f} s", f"{r['posts']:,}",
         f"{r['ms_per_due']:.2f} ms", f"{r['baseline_s']:.3f} s") for r in results])
    print(f"target: < {TARGET_SECONDS:.0f} s per scan of 100,000 open on SQLite")
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
