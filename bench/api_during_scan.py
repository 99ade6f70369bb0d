"""The HTTP API of `gridbot run` while the scheduler works: its latency idle and during a big
scan, and how soon it answers after a restart with a backlog, on the Liuyang-sized network
(SQLite or a PostgreSQL cluster started for the run; simulator transport).

    python bench/api_during_scan.py [--due 50000] [--idle-seconds 10] [--checkout DIR]
                                    [--scan-in auto|process|thread]
                                    [--backend sqlite|postgresql]

`gridbot run` runs as a child process on a free port; this process asks it, one request at a
time, `GET /healthz` and `GET /api/tickets?page=1` with a token of a township (t0):

1. **scan while serving**: the latency idle, with `--due` tickets in the database that are not
   due yet, then while the scheduled scan escalates them, once they are made due (one level up:
   ~1,100 grouped posts). Idle and during, the API reads the same tickets: what differs is the
   scan.
2. **restart after 30 minutes down**: stopped, `--due` more tickets fall due over the 30 minutes
   and the branch digests (1,100 branches) fire 2 minutes before the start; the time from start
   to the first `/healthz` 200, beside the same start with nothing due (phase 1's start), and
   the latency while the catch-up scan runs.

The scan's window is seen from outside: this process reads the database every 0.25 s, from the
first change seen (tickets escalated, digests or posts written) until the tickets are escalated,
the digests written and the delivery that follows the scan over (posts still waiting for their
room's pacing go a minute later, with the next scan). Target: p95 during the scan under
twice the idle p95; `/healthz` at start as soon as with nothing due.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere
sys.path.insert(0, str(REPO / "tests"))

from sqlalchemy import bindparam, func, insert, select, update  # noqa: E402

from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.liuyang import Microgrid, liuyang_config  # noqa: E402
from bench.report import print_table  # noqa: E402
from api.tokens import create_token  # noqa: E402
from flows.config import parse_config  # noqa: E402
from flows.network import Network  # noqa: E402
from local_server import free_port  # noqa: E402
from models.db import Database  # noqa: E402
from models.tables import DigestRun, OutboundPost, Status, Ticket  # noqa: E402

POLL = 0.25            # seconds between two looks at the database
SETTLED = 1.0          # seconds with nothing written or sent that mean the scan's run is over
START_TIMEOUT = 600.0  # seconds a start or a scan may take before the bench gives up
TOKEN_NODE = "t0"      # a township: ~1/30 of the tickets in its subtree


def write_config(path: Path, grids: list[Microgrid], digest_at: datetime) -> None:
    """The Liuyang network with the demo's policy, no quiet hours (every due ticket escalates
    whatever the hour), and the branch digest daily at `digest_at`'s time (local)."""
    config = liuyang_config(grids)
    policy = config["policy"]
    policy.pop("quiet_hours", None)
    policy["digests"] = [{"level": "branch", "cron": f"{digest_at.minute} {digest_at.hour} * * *",
                          "to": "group"}]
    path.write_text(yaml.dump(config, Dumper=yaml.CSafeDumper, allow_unicode=True,
                              sort_keys=False, width=200), encoding="utf-8")


def due_rows(count: int, grids: list[Microgrid], first_id: int, now: datetime) -> list[dict]:
    """`count` unclaimed normal tickets whose 2 h claim timer ran out over the last 30 minutes."""
    rng = random.Random(first_id)
    rows = []
    for number in range(first_id, first_id + count):
        grid = rng.choice(grids)
        due = now - timedelta(seconds=rng.randrange(1, 30 * 60))
        created = due - timedelta(hours=2)
        rows.append({
            "id": number, "source_message_id": f"bench-{number}", "group_room": grid.room,
            "node_id": grid.id, "reporter_id": f"wxid_r{number}", "reporter_name": "居民",
            "text": f"{grid.buildings[0]}栋楼道灯坏了", "category": "repair", "urgent": False,
            "status": Status.OPEN.value, "escalation_level": 0, "created_at": created,
            "clock_started_at": created, "deadline_at": due, "escalation_due_at": due})
    return rows


def write_tickets(db: Database, rows: list[dict]) -> None:
    with db.engine.begin() as connection:
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(Ticket.__table__), rows[start:start + 10_000])


def not_due_yet(rows: list[dict], by: timedelta) -> list[dict]:
    """The same tickets with their timers `by` later: in the database, not yet due."""
    return [{**row, "deadline_at": row["deadline_at"] + by,
             "escalation_due_at": row["escalation_due_at"] + by} for row in rows]


def make_due(db: Database, rows: list[dict]) -> None:
    """Give the tickets written by `not_due_yet` their timers back, in one transaction."""
    table = Ticket.__table__
    with db.engine.begin() as connection:
        connection.execute(
            update(table).where(table.c.id == bindparam("number")).values(
                deadline_at=bindparam("deadline"), escalation_due_at=bindparam("due")),
            [{"number": row["id"], "deadline": row["deadline_at"],
              "due": row["escalation_due_at"]} for row in rows])


class Service:
    """`gridbot run` as a child process."""

    def __init__(self, config: Path, url: str, port: int, log: Path, checkout: Path,
                 scan_in: str | None = None) -> None:
        self.config, self.url, self.port, self.log_path = config, url, port, log
        self.scan_in = scan_in
        self.checkout = checkout
        self.process: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> float:
        """Start it; the seconds until `/healthz` first answers 200."""
        log = self.log_path.open("a")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--config", str(self.config), "--db",
             self.url, "--port", str(self.port),
             *(("--scan-in", self.scan_in) if self.scan_in else ())],
            cwd=self.checkout, stdout=log, stderr=log,
            env={**os.environ, "PYTHONPATH": str(self.checkout)})
        with httpx.Client(timeout=5) as client:
            while time.perf_counter() - started < START_TIMEOUT:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gridbot run stopped; see {self.log_path}")
                try:
                    if client.get(f"{self.base}/healthz").status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        raise RuntimeError("gridbot run did not answer")

    def stop(self) -> float:
        """Ctrl-C; the seconds until the process ended."""
        assert self.process is not None
        started = time.perf_counter()
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=START_TIMEOUT)
        if code not in (0, 130, -signal.SIGINT):  # 130: stopped by Ctrl-C, as a shell says
            raise RuntimeError(f"gridbot run ended with {code}; see {self.log_path}")
        return time.perf_counter() - started

    def kill(self) -> None:
        """End it, if it still runs (the bench failed half-way): never left behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Sampler:
    """Requests one at a time, alternating the two endpoints: (started at, endpoint, seconds)."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=START_TIMEOUT,
                                   headers={"Authorization": f"Bearer {token}"})
        self.samples: list[tuple[float, str, float]] = []

    def one_round(self) -> None:
        for name, path in (("healthz", "/healthz"), ("tickets", "/api/tickets?page=1")):
            started = time.perf_counter()
            response = self.client.get(path)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            self.samples.append((started, name, elapsed))

    def between(self, start: float, end: float, name: str) -> list[float]:
        return [s for at, n, s in self.samples if n == name and start <= at <= end]


def backlog(db: Database, first_id: int, last_id: int) -> tuple[int, int, int]:
    """(tickets of the range not escalated yet, digests written, posts waiting)."""
    with db.engine.connect() as connection:
        waiting = connection.execute(select(func.count()).select_from(Ticket).where(
            Ticket.id.between(first_id, last_id), Ticket.escalation_level == 0)).scalar_one()
        digests = connection.execute(select(func.count()).select_from(DigestRun)).scalar_one()
        posts = connection.execute(select(func.count()).select_from(OutboundPost).where(
            OutboundPost.delivered_at.is_(None), OutboundPost.dead_at.is_(None))).scalar_one()
    return waiting, digests, posts


def sample_through_scan(sampler: Sampler, db: Database, first_id: int, last_id: int,
                        digests_wanted: int, began: float | None = None) -> tuple[float, float]:
    """Sample until the tickets are escalated, the digests written and the delivery after the
    scan over (the posts waiting unchanged for `SETTLED` s: the rest wait for their room's
    pacing, a minute on); (when the scan was first seen at work, when it was seen done),
    perf_counter seconds; `began` when it is known (the start of the process)."""
    before = backlog(db, first_id, last_id)
    done = None
    last_poll = started = time.perf_counter()
    settled_since, last_state = None, before
    while done is None:
        if time.perf_counter() - started > START_TIMEOUT:
            raise RuntimeError("the scan did not finish")
        sampler.one_round()
        now = time.perf_counter()
        if now - last_poll < POLL:
            continue
        state = backlog(db, first_id, last_id)
        if began is None and state != before:
            began = last_poll  # it was at work at some time since the previous look
        if began is not None and state[0] == 0 and state[1] >= digests_wanted:
            if state != last_state or settled_since is None:
                settled_since = now
            elif now - settled_since >= SETTLED:
                done = settled_since
        last_state, last_poll = state, now
    return began, done


def p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def row(label: str, values: list[float]) -> tuple[str, ...]:
    if not values:
        return (label, "0", "-", "-", "-")
    return (label, f"{len(values):,}", f"{p(values, 0.5):.1f} ms", f"{p(values, 0.95):.1f} ms",
            f"{max(values) * 1000:.1f} ms")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--due", type=int, default=50_000)
    options.add_argument("--idle-seconds", type=float, default=10.0)
    options.add_argument("--checkout", type=Path, default=REPO,
                         help="the source tree whose `gridbot run` is measured (an earlier "
                              "commit's, to compare; same schema)")
    options.add_argument("--scan-in", choices=("auto", "process", "thread"),
                         help="`gridbot run --scan-in`: where its scans run (default: its own)")
    options.add_argument("--backend", choices=BACKENDS, default="sqlite")
    arguments = options.parse_args()
    grids: list[Microgrid] = []
    with tempfile.TemporaryDirectory() as scratch, \
            fresh_databases(arguments.backend, Path(scratch)) as new_database:
        folder = Path(scratch)
        config_path = folder / "liuyang.yaml"
        zone = ZoneInfo(yaml.safe_load((REPO / "config.yaml").read_text())["policy"]["timezone"])
        write_config(config_path, grids,  # not during phase 1
                     (datetime.now(timezone.utc) + timedelta(hours=12)).astimezone(zone))
        network = Network(parse_config(yaml.safe_load(config_path.read_text(encoding="utf-8"))))
        branches = sum(1 for node in network.nodes() if node.level == "branch")
        url = new_database("bench")
        db = Database(url)
        token = create_token(db, network, TOKEN_NODE, "bench", datetime.now(timezone.utc))
        service = Service(config_path, url, free_port(), folder / "gridbot.log",
                          arguments.checkout.resolve(), arguments.scan_in)
        results: dict[str, float] = {}

        try:
            # 1. The scan of a running bot.
            results["start_nothing_due_s"] = service.start()
            sampler = Sampler(service.base, token)
            first = 1_000_001
            rows = due_rows(arguments.due, grids, first, datetime.now(timezone.utc))
            write_tickets(db, not_due_yet(rows, timedelta(days=1)))
            with db.engine.begin() as connection:   # settled: not measured beside autovacuum
                connection.exec_driver_sql("ANALYZE")
            time.sleep(3)  # the first scan (nothing due) is over
            idle_from = time.perf_counter()
            while time.perf_counter() - idle_from < arguments.idle_seconds:
                sampler.one_round()
            idle_to = time.perf_counter()
            make_due(db, rows)
            print(f"{arguments.due:,} tickets made due; waiting for the next scan (≤ 1 min)",
                  file=sys.stderr)
            began, done = sample_through_scan(sampler, db, first, first + arguments.due - 1, 0)
            results["scan_s"] = done - began
            results["stop_s"] = service.stop()
            for name in ("healthz", "tickets"):   # told now: phase 2 takes minutes more
                idle_now = sampler.between(idle_from, idle_to, name)
                during_now = sampler.between(began, done, name)
                if idle_now and during_now:
                    print(f"phase 1, {name}: p95 idle {p(idle_now, 0.95):.1f} ms, during "
                          f"the scan {p(during_now, 0.95):.1f} ms "
                          f"({len(during_now)} requests over {done - began:.1f} s)",
                          file=sys.stderr, flush=True)

            # 2. A restart after 30 minutes down: tickets fell due meanwhile, the digests fired.
            now = datetime.now(timezone.utc)
            grids.clear()
            write_config(config_path, grids, (now + timedelta(minutes=-2)).astimezone(zone))
            second = 2_000_001
            write_tickets(db, due_rows(arguments.due, grids, second, now))
            if arguments.backend == "sqlite":
                with db.engine.begin() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            restart = Sampler(service.base, token)
            restarted_at = time.perf_counter()
            results["start_after_downtime_s"] = service.start()
            catch_up_from, catch_up_to = sample_through_scan(
                restart, db, second, second + arguments.due - 1, branches, restarted_at)
            results["catch_up_s"] = catch_up_to - catch_up_from
            results["stop_after_catch_up_s"] = service.stop()
        finally:
            service.kill()
            db.dispose()

    idle = {name: sampler.between(idle_from, idle_to, name) for name in ("healthz", "tickets")}
    during = {name: sampler.between(began, done, name) for name in ("healthz", "tickets")}
    catch_up = {name: restart.between(catch_up_from, catch_up_to, name)
                for name in ("healthz", "tickets")}
    backend = "SQLite" if arguments.backend == "sqlite" else "PostgreSQL"
    print(f"\n{backend}, Liuyang network ({branches:,} branches), simulator transport, scans in "
          f"{arguments.scan_in or 'the default'} worker; requests one at a time, /api/tickets "
          f"with a token of {TOKEN_NODE}")
    print_table(("requests", "count", "p50", "p95", "max"), [
        row("idle: /healthz", idle["healthz"]),
        row(f"scan of {arguments.due:,} due: /healthz", during["healthz"]),
        row("idle: /api/tickets", idle["tickets"]),
        row(f"scan of {arguments.due:,} due: /api/tickets", during["tickets"]),
        row("catch-up at start: /healthz", catch_up["healthz"]),
        row("catch-up at start: /api/tickets", catch_up["tickets"]),
    ])
    for name in ("healthz", "tickets"):
        if idle[name] and during[name]:
            results[f"{name}_p95_ratio"] = p(during[name], 0.95) / p(idle[name], 0.95)
            print(f"{name}: p95 during the scan / idle = {results[f'{name}_p95_ratio']:.2f} "
                  f"(target < 2)")
    print(f"scan of {arguments.due:,} due tickets while serving: {results['scan_s']:.1f} s")
    print(f"start to the first /healthz 200: {results['start_nothing_due_s']:.2f} s with nothing "
          f"due, {results['start_after_downtime_s']:.2f} s after 30 min down "
          f"({arguments.due:,} due, {branches:,} digests); the catch-up took "
          f"{results['catch_up_s']:.1f} s")
    print(f"stop (Ctrl-C): {results['stop_s']:.2f} s idle, {results['stop_after_catch_up_s']:.2f} s "
          f"after the catch-up")
    print(json.dumps({"bench": "api_during_scan", "backend": arguments.backend,
                      "due": arguments.due,
                      "scan_in": arguments.scan_in or "default",
                      **{key: round(value, 3) for key, value in results.items()},
                      **{f"{phase}_{name}_p95_ms": round(p(values, 0.95), 1)
                         for phase, group in (("idle", idle), ("scan", during),
                                              ("catch_up", catch_up))
                         for name, values in group.items() if values}}))


if __name__ == "__main__":
    main()
