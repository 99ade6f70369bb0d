"""The `gridbot` command line.

Only typer and the standard library are imported here: each command imports what it needs
(SQLAlchemy, FastAPI, uvicorn, OpenCC, NumPy, the config's validation…) when it runs, so
`gridbot --help` and a mistyped option answer at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from enum import Enum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from bot.operator_cli import inbox_app, network_app, outbox_app, tickets_app

if TYPE_CHECKING:
    from flows.config import GridConfig
    from models.db import Database

CONFIG_ENV = "GRIDBOT_CONFIG"

app = typer.Typer(help="GridBot (网格小助手): tickets from WeChat grid groups.",
                  no_args_is_help=True, add_completion=False)
config_app = typer.Typer(help="Check the network and policy file.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens of the operators' API.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(tickets_app, name="tickets")
app.add_typer(network_app, name="network")
app.add_typer(inbox_app, name="inbox")
app.add_typer(outbox_app, name="outbox")

ConfigOption = typer.Option(None, "--config", "-c", help="config.yaml to use "
                            f"(default: ${CONFIG_ENV} or ./config.yaml).")
DbOption = typer.Option(None, "--db", help="Database URL (default: $GRIDBOT_DATABASE_URL or "
                        "sqlite:///gridbot.sqlite3).")


def _config(path: Path | None, transport: bool = False, refresh: bool = False,
            raw: bytes | None = None) -> GridConfig:
    """The config of `--config` / $GRIDBOT_CONFIG / ./config.yaml, through the cache of
    validated configs (bot/config_loading.py; `refresh` validates in full whatever it holds);
    what the transport needs to start is checked only with `transport` (`run`, `config check`):
    a token or a digest needs no webhook secret. Problems go to stderr, masked, and raise
    typer.Exit(2). `raw`: the file's bytes, when read already."""
    from bot.config_loading import load_config
    from flows.config import ConfigError

    path = path or Path(os.environ.get(CONFIG_ENV, "config.yaml"))
    try:
        # The config lives as long as the command: out of the garbage collector's sight.
        return load_config(path, transport, refresh, frozen=True, raw=raw)
    except ConfigError as error:
        typer.echo(f"{path}: the configuration has {len(error.problems)} problem(s):", err=True)
        from flows.credentials import mask_credentials

        for problem in error.problems:  # a problem may quote a URL or a token: masked
            typer.echo(f"  {mask_credentials(problem)}", err=True)
        raise typer.Exit(2) from None


def _database(url: str | None, *, create: bool = True, announce: bool = True) -> Database:
    """Open (and migrate) the database of `--db` / $GRIDBOT_DATABASE_URL / the default and,
    with `announce`, say on stderr which one it is (stdout stays the command's own). With
    `create=False` a database that does not exist yet is not made: the command stops with
    exit 2 and a line naming the URL and `gridbot db upgrade`. Errors go to stderr without a
    traceback, credentials masked, and raise typer.Exit(2)."""
    from flows.credentials import mask_credentials, url_secrets
    from models.db import Database, DatabaseMissing, database_url

    try:
        database = Database(url, create=create)
    except DatabaseMissing as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except Exception as error:  # a bad URL or an unreachable server: one line, no traceback
        raw = database_url(url)
        typer.echo(f"cannot open the database {mask_credentials(raw)}: "
                   f"{mask_credentials(str(error), url_secrets(raw))}", err=True)
        raise typer.Exit(2) from None
    if announce:
        typer.echo(f"database: {database.shown_place}", err=True)
    return database


DEMO_DB = "gridbot-demo.sqlite3"  # what `gridbot demo --serve` leaves in the working directory


class ScanIn(str, Enum):
    """`gridbot run --scan-in`: where the scheduled scans run (bot/service.py `serve`)."""

    auto = "auto"
    process = "process"
    thread = "thread"


@app.command()
def demo(config: Path | None = ConfigOption,
         db: str | None = typer.Option(None, "--db", help="Database URL (default: a new SQLite "
                                       "file in a temporary folder; with --serve, "
                                       f"./{DEMO_DB}, replaced if there)."),
         serve: bool = typer.Option(False, "--serve", help="Keep the demo's database and run "
                                    "the bot and the dashboard on it (gridbot run), with a token "
                                    "printed to log in with."),
         host: str = typer.Option("127.0.0.1", help="With --serve: address of the HTTP API."),
         port: int = typer.Option(8000, help="With --serve: port of the HTTP API.")) -> None:
    """Play yesterday in the demo network on simulated time and print the transcript."""
    import asyncio
    import tempfile
    from datetime import timedelta

    from bot.demo import play_demo

    grid = _config(config)
    started = time.perf_counter()
    yesterday = datetime.now(ZoneInfo(grid.policy.timezone)) - timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="gridbot-demo-") as folder:
        if db is None and serve:
            Path(DEMO_DB).unlink(missing_ok=True)  # the demo's own file from an earlier run
            db = f"sqlite:///{DEMO_DB}"
        database = _database(db or f"sqlite:///{Path(folder) / 'demo.sqlite3'}",
                             announce=db is not None)
        simulator, shown = asyncio.run(play_demo(grid, database, yesterday))
        if not serve:
            database.dispose()
    lines = sum(one.render().count("\n") + 1 for one in shown)
    elsewhere = len(simulator.posts) - sum(one.line.from_bot for one in shown)
    typer.echo(f"\n{lines} lines, {len(simulator.posts)} bot posts ({elsewhere} into groups "
               f"outside the story not shown), {time.perf_counter() - started:.2f} s", err=True)
    if serve:
        _serve_demo(grid, database, config, host, port)


def _serve_demo(grid: GridConfig, database: Database, config: Path | None, host: str,
                port: int) -> None:
    """`gridbot run` on the demo's database, with a token for the whole network printed."""
    from datetime import timezone

    from api.tokens import create_token
    from flows.network import Network

    network = Network(grid)
    token = create_token(database, network, network.root.id, "demo", datetime.now(timezone.utc))
    shown = database.shown_url
    typer.echo(f"\nThe demo's database is {shown}. The dashboard: http://{host}:{port}/ , log in "
               f"with this token ({network.root.name}, the whole network):\n\n  {token}\n\n"
               f"Ctrl-C stops it; `gridbot run --db {shown}` starts it again.\n")
    _serve(grid, database, config, host, port)


@app.command()
def chat(config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """Read JSON Lines messages on stdin, write the bot's posts as JSON Lines on stdout."""
    import asyncio

    from bot.chat_jsonl import JsonLinesOutput, play
    from bot.runtime import Bot

    grid = _config(config)
    database = _database(db)
    bot = Bot(grid, database, JsonLinesOutput(sys.stdout))
    asyncio.run(play(bot, sys.stdin, sys.stderr, ZoneInfo(grid.policy.timezone)))
    database.dispose()


@app.command()
def run(config: Path | None = ConfigOption, db: str | None = DbOption,
        host: str = typer.Option("127.0.0.1", help="Address the HTTP API listens on."),
        port: int = typer.Option(8000, help="Port of the HTTP API."),
        scan_in: ScanIn = typer.Option(
            "auto", help="Where the scheduled scans (escalations, digests) run: a process of "
            "their own (the API answers as fast during a scan as idle), a thread of the bot's "
            "process, or auto: a process unless the database is an in-memory SQLite one.")
        ) -> None:
    """Run the bot with its transport and the HTTP API until stopped. It logs at start what it
    runs: the config file, the database, the transport and its target, the dashboard's URL
    (credentials masked, as everywhere in its log)."""
    from flows.config import ConfigError, read_config_file

    path = _config_path(config)
    try:
        raw = read_config_file(path)   # once: the scan process is handed these very bytes
    except ConfigError:
        raw = None                     # said by _config, as for every command
    grid = _config(path, transport=True, raw=raw)
    database = _database(db, announce=False)
    _serve(grid, database, path, host, port, scan_in.value, raw)


def _serve(grid: GridConfig, database: Database, config: Path | None, host: str,
           port: int, scan_in: str = "auto", raw: bytes | None = None) -> None:
    import asyncio

    from bot.service import configure_logging, serve

    configure_logging(grid, database)
    path = _config_path(config)
    asyncio.run(serve(grid, database, host, port, config_path=path, scan_in=scan_in,
                      config_source=(path, raw) if raw is not None else None))


def _config_path(path: Path | None) -> Path:
    """The config file a command reads: --config, else $GRIDBOT_CONFIG, else ./config.yaml."""
    return path or Path(os.environ.get(CONFIG_ENV, "config.yaml"))


def _config_with_node(config: Path | None, node: str):
    """The config and its network, for a command about `node`; exit 2 with a message on stderr
    when the network has no such node."""
    from flows.network import Network

    grid = _config(config)
    network = Network(grid)
    if node not in network:
        typer.echo(f"no node {node!r} in the network (node ids are in config.yaml)", err=True)
        raise typer.Exit(2)
    return grid, network


@app.command()
def digest(node: str = typer.Option(..., "--node", help="Id of the node the digest is for."),
           since: str = typer.Option("1d", help="Start of the period: a duration back from now "
                                     "(1d, 12h, 1w) or a time (2026-11-24T08:00, local time)."),
           config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """Print the digest of a node's subtree for the period up to now."""
    from bot.digest_runs import gather_digest
    from flows.durations import parse_duration
    from models.subtrees import sync_network

    grid, network = _config_with_node(config, node)
    zone = ZoneInfo(grid.policy.timezone)
    now = datetime.now(zone)
    try:
        start = now - parse_duration(since)
    except ValueError:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            typer.echo(f"--since: expected a duration such as 1d or a time such as "
                       f"2026-11-24T08:00, got {since!r}", err=True)
            raise typer.Exit(2) from None
        start = start if start.tzinfo else start.replace(tzinfo=zone)
    database = _database(db, create=False)
    sync_network(database, network, now)
    with database.session() as session:
        messages = gather_digest(session, grid, network, network.node(node), start, now)
    database.dispose()
    typer.echo("\n\n".join(messages))


@app.command()
def report(node: str = typer.Option(..., "--node", help="Id of the node the report is for."),
           month: str = typer.Option(None, "--month", help="The month, e.g. 2026-11 (local "
                                     "time). Default: the month before this one."),
           xlsx: Path | None = typer.Option(None, "--xlsx", help="Write the report as an Excel "
                                            "workbook to this file instead of printing it."),
           config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """The monthly report (通报) of a node's subtree: its rates, the ranking of the units one level
    below, the top categories and places; with --xlsx, the workbook with its tickets (masked
    above the micro-grid)."""
    from bot.rate_reports import gather_month_report
    from flows.figures import month_period, parse_month
    from flows.rankings import monthly_report_text
    from models.subtrees import sync_network

    grid, network = _config_with_node(config, node)
    zone = ZoneInfo(grid.policy.timezone)
    now = datetime.now(zone)
    try:
        period = (month_period(parse_month(month), zone) if month
                  else month_period(now.date(), zone).previous())
    except ValueError as error:
        typer.echo(f"--month: {error}", err=True)
        raise typer.Exit(2) from None
    database = _database(db, create=False)
    sync_network(database, network, now)
    masked = not network.is_microgrid(node)
    if xlsx is None:
        with database.session() as session:
            found = gather_month_report(session, grid, network, node, period, now, top=5)
        typer.echo(monthly_report_text(network.node(node).name, found, masked=masked))
    else:
        written = _write_workbook(xlsx, database, grid, network, node, period, now, masked)
        typer.echo(f"{xlsx}: {period.name}, {written:,} tickets", err=True)
    database.dispose()


def _write_workbook(path: Path, database, grid, network, node: str, period, now: datetime,
                    masked: bool) -> int:
    """The workbook, with a progress bar on stderr once the tickets take more than a batch."""
    from rich.progress import Progress

    from bot.workbook import write_report_workbook

    bar = Progress(transient=True, disable=not sys.stderr.isatty())
    task = None

    def progress(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            # Started at the first batch, not before: its refresh thread would keep the
            # report from being gathered in a forked process (`bot.workbook.can_fork`).
            bar.start()
            task = bar.add_task("工单", total=total)
        bar.update(task, completed=done)

    try:
        return write_report_workbook(path, database, grid, network, node, period, now,
                                     masked=masked, progress=progress)
    finally:
        if task is not None:
            bar.stop()


@token_app.command("create")
def token_create(node: str = typer.Option(..., "--node", help="The node whose subtree the token "
                                          "sees and acts in."),
                 name: str = typer.Option(..., "--name", help="Who holds it; shown as the actor "
                                          "of what it does."),
                 config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """Create a token and print it (it is shown only this once; only its hash is stored)."""
    from datetime import timezone

    from api.tokens import TokenError, create_token
    from flows.network import Network

    grid = _config(config)
    database = _database(db, create=False)
    try:
        token = create_token(database, Network(grid), node, name, datetime.now(timezone.utc))
    except TokenError as error:
        typer.echo(f"cannot create the token: {error}", err=True)
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(name: str = typer.Option(..., "--name", help="The token's name."),
                 db: str | None = DbOption) -> None:
    """Revoke the tokens of that name; they stop working at once."""
    from datetime import timezone

    from api.tokens import revoke_token

    database = _database(db, create=False)
    revoked = revoke_token(database, name, datetime.now(timezone.utc))
    database.dispose()
    if not revoked:
        typer.echo(f"no live token named {name!r}", err=True)
        raise typer.Exit(2)
    typer.echo(f"revoked {revoked} token(s) named {name!r}")


HELDOUT = "heldout"  # the folder of the `flows` package that holds the held-out data


def heldout_files() -> list[Path]:
    """The labelled data the parser is measured on and never tuned on (tests/data/LABELLING.md):
    `requests_heldout.jsonl`, then the batches, by name. Shipped with the package (package data
    of `flows`), so found however GridBot was installed; [] when they are missing."""
    from importlib import resources

    folder = resources.files("flows") / HELDOUT
    if not folder.is_dir():
        return []
    files = sorted(Path(str(one)) for one in folder.iterdir() if one.name.endswith(".jsonl"))
    first = [one for one in files if one.name == "requests_heldout.jsonl"]
    return first + [one for one in files if one not in first]


NO_LABELLED_DATA = ("no labelled data to report on: this installation has no held-out files "
                    "(flows/heldout/ in GridBot's source). Pass labelled JSON Lines with "
                    "--data FILE (repeatable); each line holds the keys of `gridbot parse "
                    "--jsonl` plus `text` first.")


@app.command()
def parse(
    text: str | None = typer.Argument(None, help="A message, e.g. '下单 4号楼二单元4楼的灯不亮'."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Read JSON Lines with a `text` field on "
                               "stdin; write one JSON object per line, in order."),
    report: bool = typer.Option(False, "--report", help="Print accuracy per field and the "
                                "category confusion matrix on a labelled data set; with "
                                "--corrections, the heads' corrections per category."),
    corrections: bool = typer.Option(False, "--corrections", help="Write the requests heads "
                                     "corrected in chat (改类, 改紧急, 改一般) as labelled JSON "
                                     "Lines, read from the database."),
    data: list[Path] = typer.Option([], "--data", help="Labelled JSON Lines for --report "
                                    "(default: the held-out data shipped with GridBot: "
                                    "requests_heldout.jsonl and the batches of 2026-12 on)."),
    mistakes: int = typer.Option(0, "--mistakes", help="With --report, list this many mistakes."),
    config: Path | None = ConfigOption,
    db: str | None = DbOption,
) -> None:
    """Print what the request parser makes of a message, as one JSON object."""
    from flows.request_parser import parse_request

    if corrections:
        if text is not None or jsonl or data or mistakes:
            typer.echo("--corrections goes alone or with --report (see --help)", err=True)
            raise typer.Exit(2)
        _parse_corrections(db, report)
        return
    if sum((text is not None, jsonl, report)) != 1:
        typer.echo("give one of: a TEXT, --jsonl, --report or --corrections (see --help)", err=True)
        raise typer.Exit(2)
    lexicon = _lexicon(config)
    if report:
        paths = data or heldout_files()
        if not paths:
            typer.echo(NO_LABELLED_DATA, err=True)
            raise typer.Exit(2)
        _parse_report(paths, mistakes, lexicon)
    elif jsonl:
        _parse_jsonl(lexicon)
    else:
        typer.echo(json.dumps(parse_request(text, lexicon).as_dict(), ensure_ascii=False))


def _parse_corrections(db: str | None, report: bool) -> None:
    """The tickets heads corrected, oldest first: labelled JSON Lines (the keys of
    tests/data/LABELLING.md) on stdout, or with `report` the corrections per category."""
    from sqlmodel import select

    from flows.lifecycle import RETIMING_EVENTS, correction, corrections_report
    from models.tables import Ticket, TicketEvent

    database = _database(db, create=False)
    found = []
    try:
        with database.session() as session:
            corrected = select(TicketEvent.ticket_id).where(TicketEvent.kind.in_(RETIMING_EVENTS))
            tickets = session.exec(select(Ticket).where(Ticket.id.in_(corrected.scalar_subquery()))
                                   .order_by(Ticket.id)).all()
            events: dict[int, list[TicketEvent]] = {}
            for event in session.exec(select(TicketEvent)
                                      .where(TicketEvent.kind.in_(RETIMING_EVENTS))
                                      .order_by(TicketEvent.id)):
                events.setdefault(event.ticket_id, []).append(event)
            for ticket in tickets:
                one = correction(ticket, events.get(ticket.id, []))
                if one is not None:
                    found.append(one)
    finally:
        database.dispose()
    _labels_out(found, corrections_report if report else None)


@app.command()
def repeats(
    report: bool = typer.Option(False, "--report", help="Print their counts instead."),
    db: str | None = DbOption,
) -> None:
    """Write the pairs heads decided in chat (合并: the same problem, 拆分: not) as labelled JSON
    Lines (tests/data/repeats/LABELLING.md), read from the database: data to refit the pair
    model with (`python -m flows.repeat_model`)."""
    from sqlmodel import select

    from flows.repeat_corrections import (DECISION_EVENTS, NAMING_EVENTS, decisions,
                                          decisions_report)
    from models.tables import Ticket, TicketEvent

    database = _database(db, create=False)
    try:
        with database.session() as session:
            events = session.exec(select(TicketEvent).where(TicketEvent.kind.in_(DECISION_EVENTS))
                                  .order_by(TicketEvent.id)).all()
            named = select(TicketEvent.ticket_id).where(TicketEvent.kind.in_(NAMING_EVENTS))
            tickets = {ticket.id: ticket for ticket in session.exec(
                select(Ticket).where(Ticket.id.in_(named.scalar_subquery())))}
            found = decisions(events, tickets)
    finally:
        database.dispose()
    _labels_out(found, decisions_report if report else None)


def _labels_out(found: list, report=None) -> None:
    """Labelled rows read from the database (each with a `label` dict) as JSON Lines on stdout,
    or, given `report`, the one text it makes of them."""
    if report is not None:
        typer.echo(report(found))
        return
    for one in found:
        sys.stdout.write(json.dumps(one.label, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _lexicon(path: Path | None):
    """The config's lexicon overrides when there is a config; the shipped lexicon otherwise."""
    from flows.request_parser import load_lexicon

    path = path or Path(os.environ.get(CONFIG_ENV, "config.yaml"))
    if not path.exists() and path == Path("config.yaml"):
        return load_lexicon()
    return _config(path).request_lexicon()


def _parse_jsonl(lexicon) -> None:
    """One output line per input line, so tools can zip them; a bad line is reported on stderr
    and answered as a non-request."""
    from flows.request_parser import NOT_A_REQUEST, parse_request

    for number, line in enumerate(sys.stdin, start=1):
        parsed = NOT_A_REQUEST
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError("a JSON object with a string `text` expected")
            parsed = parse_request(row["text"], lexicon)
        except ValueError as error:  # JSONDecodeError is a ValueError
            message = f"not valid JSON ({error.msg})" if isinstance(error, json.JSONDecodeError) \
                else str(error)
            typer.echo(f"line {number}: {message}", err=True)
        sys.stdout.write(json.dumps(parsed.as_dict(), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _parse_report(paths: list[Path], mistakes: int, lexicon) -> None:
    from flows.parser_accuracy import DataError, evaluate, format_report, read_labelled
    from flows.request_parser import parse_request

    every = []
    for path in paths:
        try:
            rows = read_labelled(path)
        except (OSError, DataError) as error:
            typer.echo(f"cannot read the labelled data: {error}", err=True)
            raise typer.Exit(2) from None
        every += rows
        accuracy = evaluate(rows, lambda text: parse_request(text, lexicon))
        typer.echo(format_report(accuracy, path.name, mistakes) + "\n")
    if len(paths) > 1:
        accuracy = evaluate(every, lambda text: parse_request(text, lexicon))
        typer.echo(format_report(accuracy, f"all {len(paths)} files", 0) + "\n")


@config_app.command("check")
def config_check(config: Path | None = ConfigOption) -> None:
    """Validate config.yaml; print one line per problem."""
    from flows.network import Network

    grid = _config(config, transport=True, refresh=True)
    network = Network(grid)
    nodes = list(network.nodes())
    typer.echo(f"ok: {len(nodes)} nodes, {sum(network.is_microgrid(n) for n in nodes)} micro-grids, "
               f"levels {' > '.join(grid.levels)}")


@db_app.command("upgrade")
def db_upgrade(db: str | None = DbOption) -> None:
    """Create the database or bring its schema to the newest (also done at every start of
    `gridbot run`)."""
    database = _database(db, announce=False)
    typer.echo(f"database at the newest schema: {database.shown_url}")
    database.dispose()


def main() -> None:
    """The `gridbot` command: the app, with a secret file that cannot be read (whichever
    command, or the server, first reads it) said in one line on stderr, exit status 2."""
    from flows.environment import SecretError

    try:
        app()
    except SecretError as error:
        typer.echo(str(error), err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
