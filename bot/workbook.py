"""The monthly report as an Excel workbook (`gridbot report --xlsx`, `/api/nodes/{id}/report.xlsx`,
the dashboard's button): the figures of `bot.rate_reports`, so that each number equals the API's.

Five sheets, Chinese headers, sized columns, the header row frozen: 概况 (the rates, each with its
formula), 排名 (the units one level below), 类别, 热点 (buildings), 工单 (the period's tickets,
masked for the asker's level by `flows.masking`'s one rule). Written by openpyxl in write-only mode,
so the tickets stream from the database and a city's month costs little memory.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TypeVar
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from sqlmodel import Session, func, select

from bot.rate_reports import (MonthReport, add_period_before, gather_month_report,
                               gather_period_before)
from flows import texts
from flows.config import GridConfig
from flows.figures import Period, RateCounts, prepare_roll_up
from flows.masking import Personal, mask_name, mask_text
from flows.network import Network
from models.db import Database, shares_database
from models.subtrees import in_subtree
from models.tables import Ticket

PERCENT = "0.0%"
BATCH = 2_000     # tickets read per round trip, and between two progress calls
# The tickets sheet lists at most this many (a city's month is ~80,000: a sheet nobody scrolls,
# and a minute of openpyxl); the rest are counted on its last line (`gridbot tickets export`
# gives them all).
MAX_TICKET_ROWS = 10_000
# The 热点 sheet lists the places with the most requests, at most this many: a city's month
# touches some 30,000 buildings, most of them once, and a hot-spot list is read from the top.
MAX_HOT_SPOTS = 500

SUMMARY_HEADER = ("指标", "数值", "计算方法")
RANKING_HEADER = ("名次", "单位", "得分", "响应率", "解决率", "满意率", "按期办结率", "重办率",
                  "受理件数", "上期名次", "得分变化")
CATEGORY_HEADER = ("类别", "诉求件数", "占比")
HOT_SPOT_HEADER = ("序号", "网格（小区）", "楼栋", "诉求件数")
TICKET_HEADER = ("编号", "受理时间", "网格", "类别", "紧急", "状态", "位置", "诉求内容", "反映人",
                 "接单时间", "办结时间", "评价")
SHEETS = ("概况", "排名", "类别", "热点", "工单")

T = TypeVar("T")

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def _minutes(duration: timedelta | None) -> float | None:
    return None if duration is None else round(duration.total_seconds() / 60, 1)


def summary_rows(report: MonthReport) -> list[tuple]:
    """(指标, 数值, 计算方法) of the 概况 sheet; rates as fractions (0–1), times in minutes."""
    counts, figures = report.figures.counts, report.figures
    return [
        ("受理件数", counts.requests, "本期新受理的诉求（不含并入的同一问题反映、已撤单）"),
        ("服务户次", counts.households, "受理件数 + 并入的同一问题反映"),
        ("响应率", counts.response_rate, "按时接单数 / 应接单数（北京接诉即办 响应率）"),
        ("按期办结率", counts.on_time_rate, "按期办结数（含批准延期）/ 办结数（城管 按期结案率）"),
        ("解决率", counts.resolution_rate, "办结数 / 应办结数（城管 结案率；接诉即办 解决率）"),
        ("满意率", counts.satisfaction_rate, "（满意 + 基本满意）/ 评价数（接诉即办 满意率）"),
        ("重办率", counts.reopen_rate, "评价不满意退回重办数 / 曾办结数（12345 重办率）"),
        ("平均接单用时（分钟）", _minutes(counts.average_claim), "受理至接单，已接单的平均"),
        ("90%接单用时（分钟）", _minutes(figures.p90_claim), "受理至接单，第90百分位（最近秩）"),
        ("平均办结用时（分钟）", _minutes(counts.average_resolve), "受理至办结，已办结的平均"),
        ("90%办结用时（分钟）", _minutes(figures.p90_resolve), "受理至办结，第90百分位（最近秩）"),
    ]


def _sheet(book: Workbook, title: str, header: tuple[str, ...], widths: tuple[int, ...]):
    sheet = book.create_sheet(title)
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
        cells.append(cell)
    sheet.append(cells)
    return sheet


def _row(sheet, values, formats: dict[int, str] | None = None) -> None:
    cells = []
    for index, value in enumerate(values):
        cell = WriteOnlyCell(sheet, value=value)
        if formats and index in formats:
            cell.number_format = formats[index]
        cells.append(cell)
    sheet.append(cells)


def _local(moment: datetime | None, zone: ZoneInfo) -> str | None:
    # Local wall-clock time as text, as the chat shows it: Excel keeps no time zone, and a plain
    # value per cell is what keeps a city's month of tickets quick to write.
    # (`YYYY-MM-DD HH:MM`, cut from the ISO form: a third quicker than strftime.)
    return None if moment is None else moment.astimezone(zone).isoformat(" ")[:16]


def _name(network: Network, node_id: str, names: dict[str, str]) -> str:
    node = network.get(node_id)
    names[node_id] = node.name if node is not None else node_id
    return names[node_id]


def write_report_workbook(target: str | Path | IO[bytes], database: Database,
                          config: GridConfig, network: Network, node_id: str, period: Period,
                          asof: datetime, *, masked: bool,
                          progress: Callable[[int, int], None] | None = None) -> int:
    """The monthly report of `node_id` over `period`, followed to `asof` (aware), gathered
    (`gather_month_report`, the `MAX_HOT_SPOTS` first places) and written as a workbook to
    `target`; returns the tickets written. The report is read on connections of its own while
    the tickets sheet is written, so that the database's work on a month of tickets and the
    workbook's on its rows overlap: in two forked processes when `can_fork` (a command: the
    three then share the machine's cores), else in a thread (a server, whose other threads may
    hold locks a forked child would inherit held). Not beside it with an in-memory SQLite
    database, which has one connection. KeyError for a node not in the network; what gathering
    the report raised."""
    zone = ZoneInfo(config.policy.timezone)

    def gather(before: bool = True) -> MonthReport:
        with database.session() as session:
            return gather_month_report(session, config, network, node_id, period, asof,
                                       MAX_HOT_SPOTS, before=before)

    def gather_before() -> tuple[RateCounts, dict[str, RateCounts]]:
        with database.session() as session:
            return gather_period_before(session, network, node_id, period, asof)

    network.node(node_id)   # KeyError here, not in a worker
    if not shares_database(database.url):
        report = gather()
        with database.session() as session:
            return write_workbook(target, session, network, node_id, period, report, zone,
                                  masked=masked, progress=progress)
    if can_fork(database):
        # The period's statement and the period before's in two workers: with the tickets
        # sheet, three parts of about 2, 1.8 and 1.3 s of CPU at a city's month.
        prepare_roll_up(network, node_id)   # once here, not in each worker
        current = in_forked_process(lambda: gather(before=False), database)
        previous = in_forked_process(gather_before, database)
        try:
            with database.session() as session:
                return write_workbook(
                    target, session, network, node_id, period,
                    lambda: add_period_before(current.result(), config, network,
                                              previous.result()),
                    zone, masked=masked, progress=progress)
        finally:
            current.stop()
            previous.stop()
    with ThreadPoolExecutor(1, thread_name_prefix="gridbot-report") as pool, \
            database.session() as session:
        return write_workbook(target, session, network, node_id, period,
                              pool.submit(gather).result, zone, masked=masked,
                              progress=progress)


def can_fork(database: Database) -> bool:
    """Whether a worker reading `database` may be forked here: the platform forks, this process
    runs one thread (a thread holding a lock when another forks leaves the child's copy held
    forever) and holds no connection of `database` open (none may be carried into a child,
    `in_forked_process`)."""
    checked_out = getattr(database.engine.pool, "checkedout", None)
    return ("fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
            and (checked_out is None or checked_out() == 0))


def in_forked_process(work: Callable[[], T], database: Database) -> Future[T]:
    """Run `work` in a forked child process; the Future gets its result or its error (sent
    back pickled) once it is asked for. `database`'s pooled connections are closed first: no
    connection is carried across the fork (SQLite's rule; a PostgreSQL one would be shared by
    two processes), the child opens its own and the parent reopens as it needs. RuntimeError in
    the Future when the child ends without an answer (killed, out of memory)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        receiver.close()
        try:
            answer: tuple[bool, object] = (True, work())
        except BaseException as error:   # noqa: BLE001 - every error goes back to the parent
            answer = (False, error)
        database.engine.dispose()
        try:
            sender.send(answer)
        except Exception as error:   # an error or a result that does not pickle
            sender.send((False, RuntimeError(f"{type(error).__name__}: {error}")))
        sender.close()

    database.engine.dispose()
    process = context.Process(target=child, name="gridbot-report", daemon=True)
    process.start()
    sender.close()
    return _ForkedFuture(process, receiver)


class _ForkedFuture(Future):
    """A Future answered by a forked process through a pipe, read when its result is asked."""

    def __init__(self, process, receiver) -> None:
        super().__init__()
        self._process, self._receiver = process, receiver

    def result(self, timeout: float | None = None):
        # `timeout` bounds nothing here: the pipe is read until the worker answers or ends.
        if not self.done():
            try:
                ok, value = self._receiver.recv()
            except EOFError:
                self._process.join()
                ok, value = False, RuntimeError(f"the report's worker process ended without "
                                                f"an answer (exit code {self._process.exitcode})")
            finally:
                self._receiver.close()
                self._process.join()
            if ok:
                self.set_result(value)
            else:
                self.set_exception(value)
        return super().result(timeout)

    def stop(self) -> None:
        """End the worker if its answer was not read (the caller failed or gave up first)."""
        if not self.done():
            self._process.terminate()
            self._process.join()
            self._receiver.close()
            self.set_exception(RuntimeError("the report's worker process was stopped"))


def write_workbook(target: str | Path | IO[bytes], session: Session, network: Network,
                   node_id: str, period: Period, report: MonthReport | Callable[[], MonthReport],
                   zone: ZoneInfo, *, masked: bool,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Write the report of `node_id` over `period` to `target` (a path or a binary file); the
    tickets sheet lists every ticket created in the period in the subtree (masked when
    `masked`). `report` may still be being gathered (then a function waiting for it, see
    `write_report_workbook`): it is waited for once the tickets are written.
    `progress(done, total)` is called as tickets are written. Returns the tickets written: at most `MAX_TICKET_ROWS`, the oldest numbers
    first; a last line counts the rest. Raises what gathering the report raised."""
    book = Workbook(write_only=True)
    # Sheets keep the order they are made in; their rows may be written in any order.
    summary = _sheet(book, "概况", SUMMARY_HEADER, (22, 14, 60))
    ranking = _sheet(book, "排名", RANKING_HEADER, (6, 24, 8, 10, 10, 10, 12, 10, 10, 10, 10))
    categories = _sheet(book, "类别", CATEGORY_HEADER, (16, 12, 10))
    spots = _sheet(book, "热点", HOT_SPOT_HEADER, (6, 30, 12, 12))
    tickets = _sheet(book, "工单", TICKET_HEADER, (8, 17, 26, 10, 6, 8, 18, 50, 10, 17, 17, 10))
    try:
        done = _write_tickets(tickets, session, network, node_id, period, zone, masked,
                              progress)
        if callable(report):
            report = report()
    except BaseException:
        for sheet in book.worksheets:   # their streams ended, not left to the collector
            sheet.close()
        raise
    for row in summary_rows(report):
        _row(summary, row, {1: PERCENT} if row[0].endswith("率") else None)

    for unit in report.ranking:
        counts = unit.counts
        _row(ranking, (unit.place, unit.name,
                       None if unit.score is None else round(unit.score, 1),
                       counts.response_rate, counts.resolution_rate, counts.satisfaction_rate,
                       counts.on_time_rate, counts.reopen_rate, counts.requests,
                       unit.previous_place, None if unit.change is None else round(unit.change, 1)),
             {3: PERCENT, 4: PERCENT, 5: PERCENT, 6: PERCENT, 7: PERCENT})

    requests = report.figures.counts.requests
    for code, count in report.categories:
        _row(categories, (texts.CATEGORY_NAMES.get(code, code), count,
                          count / requests if requests else None), {2: PERCENT})

    for index, spot in enumerate(report.hot_spots[:MAX_HOT_SPOTS], start=1):
        spots.append((index, spot.node_name, texts.location_text(spot.building, None, None, None),
                      spot.requests))
    if len(report.hot_spots) >= MAX_HOT_SPOTS:
        spots.append((texts.WORKBOOK_TOP_PLACES.format(count=MAX_HOT_SPOTS),))

    book.save(target)
    return done


def _write_tickets(tickets, session: Session, network: Network, node_id: str, period: Period,
                   zone: ZoneInfo, masked: bool,
                   progress: Callable[[int, int], None] | None) -> int:
    """The 工单 sheet's rows (see `write_workbook`); returns how many tickets it lists."""
    scope = in_subtree(network, node_id, per_row=True)
    in_period = (Ticket.created_at >= period.start, Ticket.created_at < period.end)
    found = session.exec(select(func.count()).select_from(Ticket).where(scope, *in_period)).one()
    total = min(found, MAX_TICKET_ROWS)
    names: dict[str, str] = {}
    done, after = 0, 0
    columns = (Ticket.id, Ticket.created_at, Ticket.node_id, Ticket.category, Ticket.urgent,
               Ticket.status, Ticket.building, Ticket.unit, Ticket.floor, Ticket.room, Ticket.text,
               Ticket.reporter_name, Ticket.claimed_at, Ticket.resolved_at, Ticket.rating)
    while True:   # by number, a batch at a time: the city's month never sits in memory whole
        query = (select(*columns).where(scope, *in_period, Ticket.id > after)
                 .order_by(Ticket.id).limit(min(BATCH, total - done)))
        # Plain rows through the connection: the ORM's loading of each is a tenth of the sheet.
        batch = session.connection().execute(query).all()
        if not batch:
            break
        for (number, created_at, home, category, urgent, status, building, unit, floor, room,
             text, reporter, claimed_at, resolved_at, rating) in batch:
            if masked:
                text = mask_text(text, Personal((reporter,), (room,)))
                reporter = mask_name(reporter)
            location = texts.location_text(building, unit, floor, None if masked else room)
            tickets.append((number, _local(created_at, zone),
                            names.get(home) or _name(network, home, names),
                            texts.CATEGORY_NAMES.get(category, category),
                            "是" if urgent else "", texts.STATUS_NAMES[status],
                            location, text, reporter, _local(claimed_at, zone),
                            _local(resolved_at, zone), rating or ""))
        done += len(batch)
        after = batch[-1][0]
        if progress is not None:
            progress(done, total)
        if done >= total:
            break
    if found > done:
        tickets.append((texts.WORKBOOK_MORE_TICKETS.format(count=found - done),))
    return done
