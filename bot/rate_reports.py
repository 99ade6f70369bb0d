"""Reading the rates from the database (flows/figures.py defines them), for every view that shows
them: chat's `排名`, the monthly 通报 on its schedule, the digests, the API, the Excel report and
the dashboard. Every count is made by the database, grouped by home node and scoped by one
range (`models.subtrees.in_subtree`); only the 90th percentiles read one row each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import literal
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, func, select

from bot import digest_runs   # module access: digest_runs reads the rates from here too
from bot.outbox import PostPipeline, post_values, write_posts
from bot.transport import OutgoingPost
from flows import texts
from flows.config import DigestSchedule, GridConfig
from flows.figures import (CATEGORY, CLAIM_MINUTES, NODE, NOT_REQUESTS, PLACE, Figures,
                           Period, RankRow, RateCounts, Weights, month_period, percentile_of,
                           rank_units, rate_rows, report_rows, requests_in, roll_up)
from flows.lifecycle import Reply
from flows.network import Network
from flows.rankings import monthly_report_text
from models.db import Database, whole_days_between
from models.subtrees import in_subtree
from models.tables import DigestRun, Ticket, UTCDateTime

log = logging.getLogger(__name__)

TOP = 5   # categories and places listed in a report


@dataclass(frozen=True)
class HotSpot:
    """A place many requests came from: a building of a micro-grid (its compound)."""

    node_id: str
    node_name: str
    building: str
    requests: int

    @property
    def name(self) -> str:
        return f"{self.node_name}{texts.location_text(self.building, None, None, None)}"


@dataclass(frozen=True)
class MonthReport:
    """Everything a report of one node over one period shows: its figures, the ranking of the
    units one level below (with the period before's places), the top categories and places."""

    figures: Figures
    ranking: list[RankRow]
    categories: list[tuple[str, int]]    # (category code, requests), most first
    hot_spots: list[HotSpot]
    previous: RateCounts | None = None   # the node's own counts of the period before (no
                                         # reopenings or times: `period_tickets(all_counts=False)`)


def weights_of(config: GridConfig) -> Weights:
    chosen = config.policy.ranking.weights
    return Weights(chosen.response, chosen.resolution, chosen.satisfaction)


def _rows(session: Session, network: Network, node_id: str, period: Period, asof: datetime,
          all_counts: bool = True):
    scope = in_subtree(network, node_id, per_row=True)
    # Through the session's connection: plain rows, without the ORM's loading of each (a
    # city's month is some 30,000 rows, a third of a second through the ORM).
    return session.connection().execute(rate_rows(scope, period.start, period.end, asof,
                                                  all_counts=all_counts)).all()


def _report(session: Session, network: Network, node_id: str, period: Period, asof: datetime,
            top: int | None):
    """(rows of `rate_rows`, categories, places, claim histogram, resolve histogram) of
    `node_id`'s subtree over `period`: one statement, one visit to the period's tickets."""
    scope = in_subtree(network, node_id, per_row=True)
    rows, categories, places = [], [], []
    claims: dict[int, int] = {}
    resolutions: dict[int, int] = {}
    for kind, key, building, *numbers in session.connection().execute(   # plain rows (`_rows`)
            report_rows(scope, period.start, period.end, asof, top)).all():
        if kind == NODE:
            rows.append((key, *numbers))
        elif kind == CATEGORY:
            categories.append((key, int(numbers[0])))
        elif kind == PLACE:
            places.append((key, building, int(numbers[0])))
        else:
            (claims if kind == CLAIM_MINUTES else resolutions)[int(numbers[0])] = int(numbers[1])
    categories.sort(key=lambda pair: (-pair[1], pair[0]))
    places.sort(key=lambda place: (-place[2], place[0], place[1]))
    return rows, categories[:top], places, claims, resolutions


def gather_figures(session: Session, network: Network, node_id: str, period: Period,
                   asof: datetime, *, percentiles: bool = True) -> Figures:
    """The rates of `node_id`'s subtree over `period`, followed to `asof` (aware), with the 90th
    percentiles unless `percentiles` is false. KeyError for a node not in the network."""
    if not percentiles:
        total, _ = roll_up(network, node_id, _rows(session, network, node_id, period, asof))
        return Figures(node_id, period, total)
    rows, _, _, claims, resolutions = _report(session, network, node_id, period, asof, 1)
    total, _ = roll_up(network, node_id, rows)
    return Figures(node_id, period, total, percentile_of(claims), percentile_of(resolutions))


def gather_ranking(session: Session, config: GridConfig, network: Network, node_id: str,
                   period: Period, asof: datetime) -> list[RankRow]:
    """`排名`: the units one level below `node_id` ranked over `period` (policy.ranking.weights),
    with their places of the period before."""
    _, units = roll_up(network, node_id, _rows(session, network, node_id, period, asof))
    _, previous = roll_up(network, node_id, _rows(session, network, node_id, period.previous(),
                                                 asof, all_counts=False))
    names = {child.id: child.name for child in network.node(node_id).children}
    return rank_units(units, names, weights_of(config), previous)


def gather_month_report(session: Session, config: GridConfig, network: Network, node_id: str,
                        period: Period, asof: datetime, top: int | None = TOP, *,
                        before: bool = True) -> MonthReport:
    """The report of `node_id` over `period` (a month, or any period: the one before is of the
    same kind), followed to `asof`, with the `top` categories and places (None: all). Two
    statements: this period's everything, the period before's counts (`gather_period_before`);
    without `before`, only the first (the ranking has no places before nor changes, `previous`
    is None: `add_period_before` adds them). KeyError for a node not in the network."""
    rows, categories, places, claims, resolutions = _report(session, network, node_id, period,
                                                            asof, top)
    total, units = roll_up(network, node_id, rows)
    ranking = rank_units(units, _unit_names(network, node_id), weights_of(config))
    hot_spots = [HotSpot(home, network.node(home).name if home in network else home,
                         building, requests) for home, building, requests in places]
    figures = Figures(node_id, period, total, percentile_of(claims), percentile_of(resolutions))
    report = MonthReport(figures, ranking, categories, hot_spots)
    if not before:
        return report
    return add_period_before(report, config, network,
                             gather_period_before(session, network, node_id, period, asof))


def gather_period_before(session: Session, network: Network, node_id: str, period: Period,
                         asof: datetime) -> tuple[RateCounts, dict[str, RateCounts]]:
    """(the subtree's counts, each unit one level below's) of `node_id` over the period before
    `period`, followed to `asof`: what its scores and the changes need (no reopenings, no
    times: `period_tickets(all_counts=False)`)."""
    return roll_up(network, node_id, _rows(session, network, node_id, period.previous(), asof,
                                           all_counts=False))


def add_period_before(report: MonthReport, config: GridConfig, network: Network,
                      before: tuple[RateCounts, dict[str, RateCounts]]) -> MonthReport:
    """`report` (gathered without `before`) with the period before (`gather_period_before`):
    the ranking's places before and changes, and `previous`."""
    previous_total, previous_units = before
    units = {row.node_id: row.counts for row in report.ranking}
    ranking = rank_units(units, _unit_names(network, report.figures.node_id), weights_of(config),
                         previous_units)
    return replace(report, ranking=ranking, previous=previous_total)


def _unit_names(network: Network, node_id: str) -> dict[str, str]:
    return {child.id: child.name for child in network.node(node_id).children}


@dataclass(frozen=True)
class TrendDay:
    """One local day of a trend: requests made and tickets resolved that day."""

    day: date
    new: int
    resolved: int


def gather_trend(session: Session, network: Network, node_id: str, days: int, now: datetime,
                 zone: ZoneInfo) -> list[TrendDay]:
    """New requests and resolutions per local day in `node_id`'s subtree over the `days` days
    ending with today (`now`'s local day), oldest first, every day listed. Two grouped counts;
    a day is counted from local midnight (a daylight-saving zone's change day is off by its
    hour)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)
    origin = literal(start, UTCDateTime())
    scope = in_subtree(network, node_id, per_row=True)

    def per_day(column, *conditions) -> dict[int, int]:
        bucket = whole_days_between(column, origin)
        return dict(session.exec(select(bucket, func.count()).where(
            scope, column >= start, column < end, *conditions).group_by(bucket)).all())

    new = per_day(Ticket.created_at, requests_in(start, end))
    resolved = per_day(Ticket.resolved_at, Ticket.status.not_in(NOT_REQUESTS))  # type: ignore[attr-defined]
    return [TrendDay(first + timedelta(days=index), new.get(index, 0), resolved.get(index, 0))
            for index in range(days)]


# -- the monthly 通报 on its schedule -------------------------------------------------------------

LOOKBACK = timedelta(days=35)     # the furthest back a missed monthly firing is looked for
FIRST_WINDOW = timedelta(minutes=5)


def report_key(schedule: DigestSchedule) -> str:
    return "ranking " + digest_runs.schedule_key(schedule)


def send_due_reports(config: GridConfig, db: Database, network: Network,
                     now: datetime) -> list[OutgoingPost]:
    """Write every monthly 通报 whose schedule (policy.ranking.reports) fired by `now` and was not
    sent yet: to each node of the schedule's level, the report of the calendar month before the
    firing (local time). Once per node and firing (the digests' unique key, `digest_run`)."""
    zone = ZoneInfo(config.policy.timezone)
    posts: list[OutgoingPost] = []
    for schedule in config.policy.ranking.reports:
        key = report_key(schedule)
        with db.session() as session:
            last = session.exec(select(func.max(DigestRun.fire_at))
                                .where(DigestRun.schedule == key)).one()
        since = max(last, now - LOOKBACK) if last else now - FIRST_WINDOW
        _, fire = digest_runs.latest_firings(schedule.cron, zone, since, now)
        if fire is None:
            continue
        period = month_period(fire.astimezone(zone).date(), zone).previous()
        for node in network.nodes():
            if node.level != schedule.level:
                continue
            try:
                with db.session() as session:
                    session.add(DigestRun(schedule=key, node_id=node.id, fire_at=fire,
                                          period_start=period.start, sent_at=now))
                    session.flush()   # the unique key is checked before anything is written
                    report = gather_month_report(session, config, network, node.id, period, fire)
                    text = monthly_report_text(node.name, report,
                                               masked=not network.is_microgrid(node))
                    reply = (Reply(text, recipient=node.head.id) if schedule.to == "head"
                             else Reply(text, room=node.group.room))
                    posts += write_posts(session, [post_values(reply, node.group.room, None, now)],
                                         PostPipeline.of(config, network))
            except (IntegrityError, OperationalError) as error:
                log.info("monthly report for %s at %s sent by another bot (%s)", node.id, fire,
                         type(error).__name__)
    return posts
