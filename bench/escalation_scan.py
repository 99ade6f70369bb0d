"""One escalation scan (吹哨) over many open tickets spread over the Liuyang-sized network, a
share of them due: the time the scan takes and the posts it makes, at several sizes.

    python bench/escalation_scan.py [--sizes 10000,100000,1000000] [--due-share 0.05]
                                    [--backend sqlite|postgresql|both]

A scan should cost in proportion to the due tickets, not to all of them: the table shows the time
per due ticket at each size, and a second scan at each size with a fixed 1,000 due tickets.
The baseline is reading the due tickets' rows alone (the index lookup every scan starts with).

    python bench/escalation_scan.py --case top [--top 83000] [--top-rate 150] [--top-minutes 90]

The top case: `--top` tickets standing at the city group (the top: their reminders are due in
turn, `--top-rate` a minute) and a scan every minute for `--top-minutes` minutes from 11:00
local, so that a reminder interval (2 h: 10:00–12:00, 12:00–14:00) ends on the way. It runs
twice on the same tickets: reminded ticket by ticket as before (policy.reminders.group_after set
out of reach) and grouped (the default), and shows the posts each writes into the city group.
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

from sqlalchemy import func, insert, select  # noqa: E402

from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.liuyang import Microgrid, liuyang_config  # noqa: E402
from bench.report import print_table, progress  # noqa: E402
from bot import sweeps  # noqa: E402
from flows.config import GridConfig, ReminderGrouping, parse_config  # noqa: E402
from flows.network import Network  # noqa: E402
from models.db import Database  # noqa: E402
from models.tables import Status, Ticket, TicketEscalation, TicketEvent  # noqa: E402

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
    SQLite's write-ahead log, PostgreSQL's tables vacuumed; statistics gathered on both."""
    if database.engine.dialect.name == "sqlite":
        with database.engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.exec_driver_sql("ANALYZE")
    else:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")


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
    with database.engine.connect() as connection:
        escalated = connection.execute(select(func.count()).select_from(
            TicketEscalation.__table__)).scalar_one()
    database.dispose()
    # One escalation each; the posts are fewer: those into one group in one batch are one post.
    if len(found) != due or escalated != due:
        raise AssertionError(f"{due} due: {len(found)} read, {escalated} escalated")
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


TOP_START = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)  # 11:00 in Asia/Shanghai
TOP_START_LOCAL_MINUTE = 11 * 60  # of the day: reminder intervals count from local midnight
PER_TICKET = 10 ** 9  # policy.reminders.group_after no group reaches: every reminder as before


def top_rows(count: int, rate: int, grids: list[Microgrid], depth: int) -> list[dict]:
    """`count` open tickets escalated to the top (`depth` levels above their micro-grids), their
    next reminders due in turn from TOP_START, `rate` a minute on average."""
    rng = random.Random(count * 7 + rate)
    rows = []
    for number in range(count):
        grid = rng.choice(grids)
        created = TOP_START - timedelta(days=3, minutes=rng.randrange(0, 1440))
        rows.append({
            "id": number + 1, "source_message_id": f"top-{number + 1}", "group_room": grid.room,
            "node_id": grid.id, "reporter_id": f"wxid_r{number}", "reporter_name": "居民",
            "text": f"{grid.buildings[0]}栋2单元502室楼道灯坏了，电话13812345678",
            "category": "repair", "urgent": False, "status": Status.OPEN.value,
            "escalation_level": depth, "created_at": created, "clock_started_at": created,
            "deadline_at": created + timedelta(hours=2),
            "escalation_due_at": TOP_START + timedelta(seconds=rng.uniform(0, count / rate * 60)),
            "building": str(grid.buildings[0]), "unit": "2", "room": "502",
        })
    return rows


def top_run(url: str, config: GridConfig, network: Network, rows: list[dict], minutes: int,
            label: str) -> dict:
    """A scan a minute for `minutes` minutes over `rows`; the posts into the city group."""
    database = Database(url)
    fill(database, rows, label)
    settle(database)
    top_room = network.config.network.group.room
    per_scan, scan_times, characters, first = [], [], 0, None
    for minute in range(minutes):
        started = time.perf_counter()
        posts = sweeps.escalate_due(config, database, network, TOP_START + timedelta(minutes=minute))
        scan_times.append(time.perf_counter() - started)
        ours = [post for post in posts if post.room == top_room]
        if len(ours) != len(posts):
            raise AssertionError("a reminder went elsewhere than the city group")
        per_scan.append(len(ours))
        first = first or (ours[0].text if ours else None)
        characters += sum(len(post.text) for post in ours)
    with database.engine.connect() as connection:
        reminded = connection.execute(select(TicketEvent.__table__.c.ticket_id).where(
            TicketEvent.__table__.c.kind == "reminded")).scalars().all()
    database.dispose()
    return {"posts": sum(per_scan), "per_scan": per_scan, "characters": characters,
            "reminded": len(reminded), "tickets_reminded": len(set(reminded)), "first": first,
            "scan_ms": [round(seconds * 1000, 1) for seconds in scan_times]}


def measure_top(backend: str, network: Network, grids: list[Microgrid], count: int, rate: int,
                minutes: int) -> list[dict]:
    print(f"{backend}, {count:,} tickets at the top:")
    depth = network.depth(grids[0].id)
    rows = top_rows(count, rate, grids, depth)
    config = network.config
    before = config.model_copy(update={"policy": config.policy.model_copy(
        update={"reminders": ReminderGrouping(group_after=PER_TICKET)})})
    results = []
    with tempfile.TemporaryDirectory() as scratch, fresh_databases(backend, Path(scratch)) as new:
        for mode, mode_config in (("per ticket (before)", before), ("grouped (after)", config)):
            grouped = mode_config is config
            result = top_run(new(f"top_{len(results)}"), mode_config, network, rows, minutes,
                             f"{count:,} at the top, {mode}")
            results.append({"bench": "escalation_scan_top", "backend": backend, "mode": mode,
                            "at_top": count, "minutes": minutes,
                            "grouped": grouped,
                            "every_min": int(config.policy.reminder_every().total_seconds() // 60),
                            **result})
    if results[0]["reminded"] != results[1]["reminded"]:
        raise AssertionError("the reminders recorded differ: " +
                             ", ".join(str(r["reminded"]) for r in results))
    return results


def _per_day(result: dict) -> float:
    """Posts a day. Ticket by ticket: the mean a scan times 1,440. Grouped: the most posts any
    reminder interval of the run got, times the intervals in a day (a run shorter than a day
    holds few intervals, and one of them may be cut short)."""
    if not result["grouped"]:
        return sum(result["per_scan"]) / len(result["per_scan"]) * 1440
    every = result["every_min"]
    intervals: dict[int, int] = {}
    for minute, posts in enumerate(result["per_scan"]):
        start = (TOP_START_LOCAL_MINUTE + minute) // every
        intervals[start] = intervals.get(start, 0) + posts
    return max(intervals.values()) * 1440 / every


def print_top(results: list[dict]) -> None:
    print("\none scan a minute from 11:00 local; reminder interval 2 h (the shortest "
          "escalate_every): 10:00–12:00, 12:00–14:00")
    rows = []
    scans = len(results[0]["per_scan"])
    rows.append((results[0]["backend"], "one post each (computed)", f"{results[0]['at_top']:,}",
                 f"{results[0]['reminded'] / scans:,.0f}", f"{results[0]['reminded']:,}",
                 f"{results[0]['reminded']:,}", "", f"{results[0]['reminded'] / scans:.2f}",
                 f"{results[0]['reminded'] / scans * 1440:,.0f}", "", ""))
    print(f"posts/day: ticket by ticket, the mean a scan × 1,440; grouped, one per interval × "
          f"{1440 // results[0]['every_min']} intervals")
    for r in results:
        scans = len(r["per_scan"])
        per_day = _per_day(r)
        rows.append((r["backend"], r["mode"], f"{r['at_top']:,}", f"{r['reminded'] / scans:,.0f}",
                     f"{r['reminded']:,}", f"{r['posts']:,}",
                     f"{min(r['per_scan'])}–{max(r['per_scan'])}",
                     f"{r['posts'] / scans:.2f}", f"{per_day:,.0f}",
                     f"{r['characters'] / scans:,.0f}",
                     f"{sorted(r['scan_ms'])[scans // 2]:.0f} ms / {max(r['scan_ms']):.0f} ms"))
    print_table(("backend", "reminders", "at top", "reminded/scan", "reminded (events)",
                 "posts", "posts/scan", "mean", "posts/day", "chars/scan", "scan: median / max"),
                rows)
    for r in results:
        scans_with_posts = [minute for minute, posts in enumerate(r["per_scan"]) if posts]
        if len(scans_with_posts) <= 10:
            print(f"{r['mode']}: posts at {', '.join(f'{11 + m // 60}:{m % 60:02d}' for m in scans_with_posts)}")
    print(f"the first grouped post:\n{results[-1]['first']}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--sizes", default="10000,100000,1000000")
    options.add_argument("--due-share", type=float, default=0.05)
    options.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    options.add_argument("--case", choices=("sizes", "top", "both"), default="both")
    options.add_argument("--top", type=int, default=83_000)
    options.add_argument("--top-rate", type=int, default=150)
    options.add_argument("--top-minutes", type=int, default=90)
    arguments = options.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    grids: list[Microgrid] = []
    network = Network(parse_config(liuyang_config(grids)))
    backends = BACKENDS if arguments.backend == "both" else (arguments.backend,)
    if arguments.case in ("top", "both"):
        top = [result for backend in backends for result in measure_top(
            backend, network, grids, arguments.top, arguments.top_rate, arguments.top_minutes)]
        print_top(top)
        for result in top:
            print(json.dumps({key: value for key, value in result.items()
                              if key not in ("per_scan", "scan_ms", "first")}, ensure_ascii=False))
    if arguments.case == "top":
        return
    results = [result for backend in backends
               for result in measure(backend, network, grids, sizes, arguments.due_share)]
    print("\none scan each; normal tickets unclaimed past their 2 h claim timer are due "
          "(one level up; the escalations into one group in one batch are one post)")
    print_table(("backend", "open", "due", "scan", "posts", "per due ticket",
                 "baseline: read due rows"), [
        (r["backend"], f"{r['open']:,}", f"{r['due']:,}", f"{r['scan_s']:.2f} s", f"{r['posts']:,}",
         f"{r['ms_per_due']:.2f} ms", f"{r['baseline_s']:.3f} s") for r in results])
    print(f"target: < {TARGET_SECONDS:.0f} s per scan of 100,000 open on SQLite")
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
