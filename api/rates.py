"""`/api/nodes/{id}/rates` and `/api/nodes/{id}/report.xlsx`: the rates of a node's subtree over
a day, week, month or any range, the ranking of the units one level below, the top categories
and places (flows/figures.py, bot/rate_reports.py), and the same as an Excel workbook. Scoped by
the token as every endpoint: a node outside the caller's subtree is 404."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from api.auth import caller, not_found, the_bot
from api.params import moment
from api.schemas import RatesOut
from api.tokens import Principal
from bot.rate_reports import MonthReport, gather_month_report
from bot.runtime import Bot
from flows import texts
from flows.figures import Period, RateCounts, month_period, parse_month, period_of

router = APIRouter(prefix="/api", tags=["rates"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RankOut(BaseModel):
    place: int | None
    node_id: str
    name: str
    score: float | None = Field(description="0–100, policy.ranking.weights over 响应率, 解决率, 满意率.")
    rates: RatesOut
    previous_place: int | None = None
    previous_score: float | None = None


class CategoryOut(BaseModel):
    category: str
    name: str
    requests: int


class HotSpotOut(BaseModel):
    node_id: str
    node_name: str
    building: str
    requests: int


class ReportOut(BaseModel):
    """A node's report over one period."""

    node_id: str
    period: str = Field(description="day, week, month or range")
    name: str
    since: datetime
    until: datetime
    rates: RatesOut
    p90_claim_minutes: float | None = None
    p90_resolve_minutes: float | None = None
    ranking: list[RankOut]
    categories: list[CategoryOut]
    hot_spots: list[HotSpotOut]


def _minutes(duration: timedelta | None) -> float | None:
    return None if duration is None else round(duration.total_seconds() / 60, 1)


def rates_out(counts: RateCounts) -> RatesOut:
    return RatesOut(requests=counts.requests, households=counts.households,
                    response_rate=counts.response_rate, on_time_rate=counts.on_time_rate,
                    resolution_rate=counts.resolution_rate,
                    satisfaction_rate=counts.satisfaction_rate, reopen_rate=counts.reopen_rate,
                    average_claim_minutes=_minutes(counts.average_claim),
                    average_resolve_minutes=_minutes(counts.average_resolve),
                    counts={name: value for name, value in vars(counts).items()})


def report_out(report: MonthReport) -> ReportOut:
    figures = report.figures
    return ReportOut(
        node_id=figures.node_id, period=figures.period.kind, name=figures.period.name,
        since=figures.period.start, until=figures.period.end, rates=rates_out(figures.counts),
        p90_claim_minutes=_minutes(figures.p90_claim),
        p90_resolve_minutes=_minutes(figures.p90_resolve),
        ranking=[RankOut(place=row.place, node_id=row.node_id, name=row.name, score=row.score,
                         rates=rates_out(row.counts), previous_place=row.previous_place,
                         previous_score=row.previous_score) for row in report.ranking],
        categories=[CategoryOut(category=code, name=texts.CATEGORY_NAMES.get(code, code),
                                requests=count) for code, count in report.categories],
        hot_spots=[HotSpotOut(node_id=spot.node_id, node_name=spot.node_name,
                              building=spot.building, requests=spot.requests)
                   for spot in report.hot_spots])


def chosen_period(zone: ZoneInfo, now: datetime, period: str, day: date | None,
                  month: str | None, since: datetime | None, until: datetime | None) -> Period:
    """The period a query names: `month=2026-11`; `since`/`until` (a range); else the `period`
    (day, week, month) holding `day` (default today). 422 for what names none."""
    if month is not None:
        try:
            return month_period(parse_month(month), zone)
        except ValueError as error:
            raise HTTPException(422, f"month: {error}") from None
    if since is not None or until is not None:
        since, until = moment("since", since, zone), moment("until", until, zone)
        until = until or now
        since = since or until - timedelta(days=30)
        if since >= until:
            raise HTTPException(422, "since must be before until")
        return Period(since, until, f"{since.astimezone(zone):%m-%d %H:%M} 至 "
                                    f"{until.astimezone(zone):%m-%d %H:%M}")
    at = now if day is None else datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return period_of(period, at, zone)


PeriodQuery = Annotated[Literal["day", "week", "month"], Query(
    description="A local day, week (Monday–Sunday) or month, holding `day`.")]


def _asked(bot: Bot, principal: Principal, node_id: str, period: str, day, month, since,
           until) -> tuple[Period, datetime]:
    """(the period asked for, now) for a node of the caller's subtree; 404 for another node."""
    if node_id not in principal.subtree:
        raise not_found(f"node {node_id!r}")
    now = bot.clock()
    return chosen_period(ZoneInfo(bot.config.policy.timezone), now, period, day, month, since,
                         until), now


def _report(bot: Bot, principal: Principal, node_id: str, period: str, day, month, since,
            until, top: int | None) -> MonthReport:
    chosen, now = _asked(bot, principal, node_id, period, day, month, since, until)
    with bot.db.session() as session:
        return gather_month_report(session, bot.config, bot.network, node_id, chosen, now, top)


@router.get("/nodes/{node_id}/rates", response_model=ReportOut,
            summary="A node's rates over a period, the ranking of the units below it, the top "
                    "categories and places",
            responses={404: {"description": "No such node in my subtree"}})
def node_rates(node_id: str, bot: Annotated[Bot, Depends(the_bot)],
               principal: Annotated[Principal, Depends(caller)],
               period: PeriodQuery = "month",
               day: Annotated[date | None, Query(description="Default: today.")] = None,
               month: Annotated[str | None, Query(description="A month, e.g. 2026-11.")] = None,
               since: Annotated[datetime | None, Query(description="A range instead.")] = None,
               until: Annotated[datetime | None, Query(description="Default: now.")] = None,
               top: Annotated[int, Query(ge=1, le=100)] = 5) -> ReportOut:
    return report_out(_report(bot, principal, node_id, period, day, month, since, until, top))


@router.get("/nodes/{node_id}/report.xlsx", summary="The report as an Excel workbook",
            response_class=Response,
            responses={200: {"content": {XLSX: {}}},
                       404: {"description": "No such node in my subtree"}})
def node_workbook(node_id: str, bot: Annotated[Bot, Depends(the_bot)],
                  principal: Annotated[Principal, Depends(caller)],
                  period: PeriodQuery = "month",
                  day: Annotated[date | None, Query()] = None,
                  month: Annotated[str | None, Query(description="A month, e.g. 2026-11.")] = None,
                  since: Annotated[datetime | None, Query()] = None,
                  until: Annotated[datetime | None, Query()] = None) -> Response:
    return Response(workbook_bytes(bot, principal, node_id, period, day, month, since, until),
                    media_type=XLSX, headers={"Content-Disposition":
                                              f'attachment; filename="report-{node_id}.xlsx"'})


def workbook_bytes(bot: Bot, principal: Principal, node_id: str, period: str = "month",
                   day=None, month=None, since=None, until=None) -> bytes:
    """The workbook of a node the caller sees, masked for the caller's level (the token's
    node: above the micro-grid, masked)."""
    from bot.workbook import write_report_workbook

    chosen, now = _asked(bot, principal, node_id, period, day, month, since, until)
    buffer = io.BytesIO()
    write_report_workbook(buffer, bot.db, bot.config, bot.network, node_id, chosen, now,
                          masked=not bot.network.is_microgrid(principal.node_id))
    return buffer.getvalue()
