"""`gridbot tickets …`, `gridbot network show` and `gridbot outbox …`: the operators' view from the
shell.

Output is plain text for people; `tickets export` writes JSON Lines for tools, with a progress bar
on stderr while it reads a large table.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from flows.status import Status

if TYPE_CHECKING:
    from flows.network import Network
    from models.tables import Ticket

# The modules behind these commands (SQLAlchemy, the network, rich's progress bar) are imported
# inside each command: `gridbot --help` and the commands that do not need them start at once.

tickets_app = typer.Typer(help="Look at tickets.", no_args_is_help=True)
network_app = typer.Typer(help="Look at the network.", no_args_is_help=True)
inbox_app = typer.Typer(help="Stored messages the bot could not act on.", no_args_is_help=True)
outbox_app = typer.Typer(help="The posts waiting to be sent, and those set aside (dead letters).",
                         no_args_is_help=True)

EXPORT_BATCH = 1000

# The keys of each `tickets export` line, in this order: the ticket's number, where and from whom
# it came, what it asks, its state and handler, its rating, its times (UTC, ISO 8601) and its
# escalation clock. A test holds it to the table's columns, so a new column is exported too.
EXPORT_FIELDS = (
    "id", "source_message_id", "group_room", "node_id", "reporter_id", "reporter_name", "text",
    "category", "urgent", "building", "unit", "floor", "room", "status", "assignee_id",
    "assignee_name", "escalation_level", "resolution", "rating", "rating_comment", "created_at",
    "claimed_at", "resolved_at", "closed_at", "clock_started_at", "deadline_at",
    "escalation_due_at", "parent_id", "notice_until",
)


def _setup(config: Path | None, db: str | None):
    from bot.cli import _config, _database
    from flows.network import Network

    from models.subtrees import sync_network

    grid = _config(config)
    network, database = Network(grid), _database(db, create=False)
    sync_network(database, network, datetime.now(timezone.utc))
    return grid, network, database


STATUS_CELLS = 14  # the status column's width in terminal cells: 已办结，待评价 (CJK: 2 each)

# The columns of `tickets list`, as its first line names them.
LIST_HEADER = f"{'#':<7} {'status':<{STATUS_CELLS}} category location text [now at] overdue"


def _pad(text: str, cells: int) -> str:
    """`text` padded with spaces to `cells` terminal cells."""
    from rich.cells import cell_len

    return text + " " * max(cells - cell_len(text), 0)


def _line(ticket: Ticket, network: Network, now: datetime) -> str:
    from flows import texts
    from flows.escalation import current_node
    from flows.open_tickets import is_overdue

    where = current_node(network, ticket).name if ticket.node_id in network else ticket.node_id
    late = " 超期" if is_overdue(ticket, now) else ""
    return (f"#{ticket.id:<6} {_pad(texts.STATUS_NAMES[ticket.status], STATUS_CELLS)} "
            f"{'紧急 ' if ticket.urgent else ''}{texts.CATEGORY_NAMES.get(ticket.category, ticket.category)} "
            f"{texts.location_text(ticket.building, ticket.unit, ticket.floor, ticket.room)} "
            f"{ticket.text[:30]} [{where}]{late}")


ConfigOption = typer.Option(None, "--config", "-c", help="config.yaml to use.")
DbOption = typer.Option(None, "--db", help="Database URL.")


@tickets_app.command("list")
def list_tickets(node: str | None = typer.Option(None, help="Only this node's subtree."),
                 status: list[Status] = typer.Option([], help="Only these statuses (repeatable)."),
                 overdue: bool = typer.Option(False, "--overdue", help="Only overdue tickets."),
                 limit: int = typer.Option(50, min=1, help="At most this many, newest first."),
                 config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """List tickets, newest first, under a line naming the columns: number, status, category
    (紧急 first when urgent), location, the text's start, the node it stands at now (in
    brackets) and 超期 when overdue."""
    from sqlmodel import func, select

    from flows.open_tickets import overdue_at
    from models.subtrees import in_subtree
    from models.tables import Ticket

    grid, network, database = _setup(config, db)
    if node is not None and node not in network:
        typer.echo(f"no node {node!r} in the network", err=True)
        raise typer.Exit(2)
    now = datetime.now(timezone.utc)
    filters = []
    if node:
        filters.append(in_subtree(network, node))
    if status:
        filters.append(Ticket.status.in_(status))  # type: ignore[attr-defined]
    if overdue:
        filters.append(overdue_at(now))
    with database.session() as session:
        total = session.exec(select(func.count()).select_from(Ticket).where(*filters)).one()
        rows = session.exec(select(Ticket).where(*filters).order_by(Ticket.id.desc())  # type: ignore[union-attr]
                            .limit(limit)).all()
    database.dispose()
    typer.echo(LIST_HEADER)
    for ticket in rows:
        typer.echo(_line(ticket, network, now))
    typer.echo(f"{len(rows)} of {total} ticket(s)", err=True)


@tickets_app.command("show")
def show_ticket(number: int = typer.Argument(..., help="The ticket number (#N)."),
                config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """One ticket and its history."""
    from sqlmodel import select

    from flows import texts
    from models.tables import Ticket, TicketEvent

    grid, network, database = _setup(config, db)
    zone = ZoneInfo(grid.policy.timezone)
    with database.session() as session:
        ticket = session.get(Ticket, number)
        events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == number)
                              .order_by(TicketEvent.id)).all()
    database.dispose()
    if ticket is None:
        typer.echo(f"no ticket #{number}", err=True)
        raise typer.Exit(2)
    typer.echo(_line(ticket, network, datetime.now(timezone.utc)))
    typer.echo(f"reporter: {ticket.reporter_name}   handler: {ticket.assignee_name or '-'}")
    typer.echo(ticket.text)
    for event in events:
        note = f"  {event.note}" if event.note else ""
        typer.echo(f"  {event.at.astimezone(zone):%Y-%m-%d %H:%M}  "
                   f"{texts.EVENT_NAMES.get(event.kind, event.kind)}  {event.actor_name}{note}")


@tickets_app.command("export")
def export_tickets(output: Path | None = typer.Option(None, "--output", "-o",
                                                      help="File to write (default: stdout)."),
                   config: Path | None = typer.Option(
                       None, "--config", help="Not needed: the export reads the database "
                                              "alone (accepted for older scripts)."),
                   db: str | None = DbOption) -> None:
    """Every ticket as JSON Lines, oldest first, with a progress bar on stderr. Each line has
    the keys of EXPORT_FIELDS, always in that order (the ticket's columns, as the table
    declares them). Rows are read in batches of plain columns, so a year of a city's tickets
    streams in constant memory."""
    from pydantic_core import to_jsonable_python
    from rich.console import Console
    from rich.progress import Progress
    from sqlalchemy import func, select

    from bot.cli import _database
    from models.tables import Ticket

    database = _database(db, create=False)
    table = Ticket.__table__
    columns = [table.c[key] for key in EXPORT_FIELDS]
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    written = 0
    with database.engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(table)).scalar_one()
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("exporting tickets", total=total)
        last_id = 0
        while True:
            with database.engine.connect() as connection:
                batch = connection.execute(select(*columns).where(table.c.id > last_id)
                                           .order_by(table.c.id).limit(EXPORT_BATCH)).all()
            if not batch:
                break
            out.write("".join(json.dumps(to_jsonable_python(dict(zip(EXPORT_FIELDS, row))),
                                         ensure_ascii=False) + "\n" for row in batch))
            written += len(batch)
            last_id = batch[-1].id
            progress.update(task, advance=len(batch))
    if output:
        out.close()
    database.dispose()
    typer.echo(f"{written} ticket(s) exported", err=True)


@network_app.command("show")
def show_network(config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """The network as a tree, with the open tickets standing at each node."""
    from models.subtrees import open_tree_at

    grid, network, database = _setup(config, db)
    with database.session() as session:
        tree = open_tree_at(session, network, network.root.id, datetime.now(timezone.utc))
    database.dispose()
    lines = []
    for node_id, here in zip(tree.nodes, tree.here):   # parents first, depth-first
        node = network.node(node_id)
        count = f"  待办 {here}" if here else ""
        lines.append(f"{'  ' * network.depth(node_id)}{node.name} ({node_id}, {node.level}, "
                     f"{node.head.name}){count}")
    typer.echo("\n".join(lines))


def _outbox_db(db: str | None):
    from bot.cli import _database

    return _database(db, create=False)


@outbox_app.command("dead")
def dead_posts(limit: int = typer.Option(100, min=1, help="At most this many, oldest first."),
               db: str | None = DbOption) -> None:
    """The posts the chat service refused for good or that failed too often: set aside, their
    rooms went on. `gridbot outbox retry ID` sends one again."""
    from bot.outbox import dead_letter_count, dead_letters, pending_count

    database = _outbox_db(db)
    letters = dead_letters(database, limit)
    total, pending = dead_letter_count(database), pending_count(database)
    database.dispose()
    for letter in letters:
        text = letter.text.replace("\n", " ")
        typer.echo(f"{letter.id:<8} {letter.dead_at:%Y-%m-%d %H:%M:%S}Z  {letter.destination}  "
                   f"{letter.reason}\n         {text[:60]}{'…' if len(text) > 60 else ''}")
    typer.echo(f"{len(letters)} of {total} dead letter(s); {pending} post(s) waiting", err=True)


@outbox_app.command("retry")
def retry_post(post_ids: list[int] = typer.Argument(..., help="Id(s) of dead letters."),
               db: str | None = DbOption) -> None:
    """Put dead letters back in line, in their place in their room: a running bot sends them
    with its next delivery (within a minute)."""
    from bot.outbox import retry_dead

    database = _outbox_db(db)
    missing = [post_id for post_id in post_ids if not retry_dead(database, post_id)]
    database.dispose()
    for post_id in post_ids:
        if post_id not in missing:
            typer.echo(f"post {post_id} is back in the outbox")
    if missing:
        typer.echo(f"no dead letter {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(2)


@inbox_app.command("dead")
def list_dead(limit: int = typer.Option(50, min=1, help="At most this many, oldest first."),
              config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """The dead letters: messages set aside after their last failed try."""
    from bot.inbox import dead_letters

    grid, network, database = _setup(config, db)
    rows, total = dead_letters(database, limit)
    database.dispose()
    zone = ZoneInfo(grid.policy.timezone)
    for row in rows:
        typer.echo(f"{row.message_id}  {row.received_at.astimezone(zone):%Y-%m-%d %H:%M}  "
                   f"{row.room}  {row.sender_name}  tries {row.attempts}  "
                   f"{row.text[:30]!r}  {row.last_error or ''}")
    typer.echo(f"{len(rows)} of {total} dead letter(s); `gridbot inbox retry ID` tries one again",
               err=True)


@inbox_app.command("retry")
def retry_dead(message_id: str = typer.Argument(..., help="The message id (from `inbox dead`)."),
               config: Path | None = ConfigOption, db: str | None = DbOption) -> None:
    """Act on a dead letter now (its replies go out with the running bot's next delivery)."""
    from sqlmodel import select

    from bot.dispatch import Dispatcher
    from bot.inbox import revive
    from models.tables import InboundMessage

    grid, network, database = _setup(config, db)
    now = datetime.now(timezone.utc)
    if not revive(database, message_id, now):
        database.dispose()
        typer.echo(f"no dead letter {message_id!r}", err=True)
        raise typer.Exit(2)
    Dispatcher(grid, database, network).retry_due(now, message_id)
    with database.session() as session:
        row = session.exec(select(InboundMessage).where(
            InboundMessage.message_id == message_id)).one()
    database.dispose()
    if row.handled_at is None:
        typer.echo(f"{message_id}: failed again ({row.last_error}); tried again later", err=True)
        raise typer.Exit(1)
    typer.echo(f"{message_id}: acted on")
