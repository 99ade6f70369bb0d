"""The monthly report of the city on a year of Liuyang's tickets: what an official opens first.

    python bench/monthly_report.py [--tickets 1000000] [--backend sqlite|postgresql|both]
                                   [--keep DIR] [--rounds 5]

Builds (or, with `--keep DIR`, reuses) the database of `bench/liuyang_year.py` (33,431 nodes, a
year of tickets), adds what its year leaves out and the rates read: the claim and resolve
escalations of late tickets and the reopenings. Then, for the city node and October 2026 (a whole
month, about a twelfth of the tickets), it times in process the report's figures (the rates, the
ranking of the townships with the month before, the top categories and places:
`bot.rate_reports.gather_month_report`) and the Excel workbook with its tickets sheet; and
`gridbot report --xlsx` in a new process (median and slowest of three), with its peak memory. Beside them, the baselines
measured in the same run: one SQL count over the same month's rows (answered from an index), and
one count of them by home node (which visits every row, as the report must).

Aim (issue 24): the report under 5 s and under 500 MB at 1,000,000 tickets.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import text  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.liuyang import REPO, Microgrid, liuyang_config, ready_for_commands, write_config  # noqa: E402
from bench.liuyang_year import COMMAND_RUNS, MEASURED_RUN, NOW, build, timed  # noqa: E402
from bench.report import print_table  # noqa: E402
from bot.rate_reports import gather_month_report  # noqa: E402
from bot.workbook import write_report_workbook  # noqa: E402
from flows.config import parse_config  # noqa: E402
from flows.figures import month_period  # noqa: E402
from flows.network import Network  # noqa: E402
from models.db import Database  # noqa: E402
from models.subtrees import sync_network  # noqa: E402
from models.tables import Ticket  # noqa: E402

MONTH = date(2026, 10, 1)
ZONE = ZoneInfo("Asia/Shanghai")


def add_late_and_reopened(database: Database) -> None:
    """What the year of liuyang_year.py leaves out and the rates read, once per database: a
    claim escalation for every tenth ticket, a resolve escalation for every seventeenth
    resolved one, a reopening for every fiftieth."""
    with database.engine.begin() as connection:
        if connection.execute(text("SELECT count(*) FROM ticket_escalation")).scalar():
            return
        connection.execute(text(
            "INSERT INTO ticket_escalation (ticket_id, level, round, cause, at) "
            "SELECT id, 1, 0, 'claim', created_at FROM ticket WHERE id % 10 = 0"))
        connection.execute(text(
            "INSERT INTO ticket_escalation (ticket_id, level, round, cause, at) "
            "SELECT id, 2, 0, 'resolve', resolved_at FROM ticket "
            "WHERE id % 17 = 0 AND resolved_at IS NOT NULL"))
        connection.execute(text(
            "INSERT INTO ticket_event (ticket_id, kind, actor_id, actor_name, at) "
            "SELECT id, 'reopened', reporter_id, reporter_name, resolved_at FROM ticket "
            "WHERE id % 50 = 0 AND resolved_at IS NOT NULL"))


def measure(database: Database, network: Network, grids: list[Microgrid], rounds: int,
            backend: str) -> list[dict]:
    config = parse_config(liuyang_config(grids))
    period = month_period(MONTH, ZONE)
    top = network.root.id
    asof = NOW.astimezone(timezone.utc)
    results = []

    def count():
        with database.session() as session:
            return session.exec(select(func.count()).select_from(Ticket).where(
                Ticket.created_at >= period.start, Ticket.created_at < period.end)).one()

    def grouped():   # visits every row of the month, as the report must
        with database.session() as session:
            return len(session.exec(select(Ticket.node_id, func.count()).where(
                Ticket.created_at >= period.start, Ticket.created_at < period.end)
                .group_by(Ticket.node_id)).all())

    def report():
        with database.session() as session:
            return gather_month_report(session, config, network, top, period, asof)

    def workbook():   # the report read while the tickets sheet is written, as the command does
        return write_report_workbook(io.BytesIO(), database, config, network, top, period, asof,
                                     masked=True)

    baseline, _, rows = timed(count, rounds)
    grouped_ms, _, _ = timed(grouped, rounds)
    for what, action, runs in (("figures, ranking, categories, places", report, rounds),
                               ("the same and the .xlsx with its tickets", workbook,
                                max(1, rounds // 2))):
        p50, p95, _ = timed(action, runs)
        results.append({"backend": backend, "what": what, "p50_ms": round(p50, 1),
                        "p95_ms": round(p95, 1), "baseline_ms": round(baseline, 1),
                        "grouped_ms": round(grouped_ms, 1), "rows": rows})
        print(f"  {backend} {what:42} {p50:8.1f} ms  (count: {baseline:.1f} ms, "
              f"grouped: {grouped_ms:.1f} ms)",
              file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        config_file = write_config(Path(scratch) / "liuyang.yaml")
        target = Path(scratch) / "report.xlsx"
        env = {**os.environ, "GRIDBOT_DATABASE_URL": database.url}
        ready_for_commands(config_file, env)
        runs = []
        for _ in range(COMMAND_RUNS):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", MEASURED_RUN, "report", "--node", top,
                                   "--month", MONTH.strftime("%Y-%m"), "--xlsx", str(target),
                                   "--config", str(config_file)], env=env, cwd=REPO,
                                  capture_output=True)
            runs.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.decode()[-800:])
        peak_mb = int(done.stderr.decode().rsplit("maxrss ", 1)[1]) / 1024
        # The report's worker, forked: its pages are the command's until either writes them.
        worker_mb = int(done.stderr.decode().rsplit("worker peak ", 1)[1].split()[0]) / 1024
        results.append({"backend": backend, "what": "gridbot report --xlsx (new process)",
                        "p50_ms": round(statistics.median(runs) * 1000),
                        "p95_ms": round(max(runs) * 1000),
                        "baseline_ms": round(baseline, 1), "grouped_ms": round(grouped_ms, 1),
                        "rows": rows, "peak_mb": round(peak_mb), "worker_peak_mb": round(worker_mb),
                        "xlsx_kb": round(target.stat().st_size / 1024)})
    return results


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--tickets", type=int, default=1_000_000)
    options.add_argument("--backend", choices=(*BACKENDS, "both"), default="sqlite")
    options.add_argument("--rounds", type=int, default=5)
    options.add_argument("--keep", type=Path, help="A folder to keep (and reuse) the SQLite "
                                                   "database in (shared with liuyang_year.py).")
    arguments = options.parse_args()
    grids: list[Microgrid] = []
    network = Network(parse_config(liuyang_config(grids)))
    backends = BACKENDS if arguments.backend == "both" else (arguments.backend,)
    results = []
    for backend in backends:
        with tempfile.TemporaryDirectory() as scratch, fresh_databases(backend, Path(scratch)) as new:
            if backend == "sqlite" and arguments.keep:
                arguments.keep.mkdir(parents=True, exist_ok=True)
                file = arguments.keep / f"year_{arguments.tickets}.sqlite3"
                fresh = not file.exists()
                database = Database(f"sqlite:///{file}")
                if fresh:
                    build(database, arguments.tickets, grids, backend)
            else:
                database = Database(new("year"))
                build(database, arguments.tickets, grids, backend)
            add_late_and_reopened(database)
            sync_network(database, network, NOW)
            results += measure(database, network, grids, arguments.rounds, backend)
            database.dispose()
    print(f"\nthe city's report of {MONTH:%Y-%m}, {arguments.tickets:,} tickets over a year, "
          f"{len(network):,} nodes; in process: p50 of {arguments.rounds} rounds after a warm-up")
    print_table(("backend", "what", "p50", "p95", "SQL count (baseline)",
                 "SQL count by home node (baseline)", "rows", "peak memory"), [
        (r["backend"], r["what"], f"{r['p50_ms']:,.1f} ms", f"{r['p95_ms']:,.1f} ms",
         f"{r['baseline_ms']:.1f} ms", f"{r['grouped_ms']:.1f} ms", f"{r['rows']:,}",
         f"{r['peak_mb']:,} MB (worker {r['worker_peak_mb']:,} MB)" if "peak_mb" in r else "")
        for r in results])
    for result in results:
        print(json.dumps({"bench": "monthly_report", **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
