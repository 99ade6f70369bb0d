"""The ranking (`排名`) and the monthly 通报 as chat text. Pure: the figures come in
(`bot.rate_reports` reads them), texts come out; a report for a node above the micro-grid names
places by building only, never a room or a resident."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flows import texts
from flows.escalation import format_chinese_duration
from flows.figures import RankRow, Weights, percent

if TYPE_CHECKING:
    from bot.rate_reports import MonthReport


def _points(value: float) -> str:
    return f"{value:.1f}"


def _weight(value: float, weights: Weights) -> str:
    total = weights.response + weights.resolution + weights.satisfaction
    return f"{value / total:.0%}"


def ranking_lines(rows: Sequence[RankRow]) -> list[str]:
    """One line per unit: place, name, score, the three rates, requests, and the change since
    the period before."""
    lines = []
    for row in rows:
        if row.place is None or row.score is None:
            lines.append(texts.RANKING_UNRANKED.format(name=row.name))
            continue
        change = ""
        if row.change is not None:
            delta = round(row.change, 1)
            change = (texts.RANKING_UP.format(points=_points(delta)) if delta > 0 else
                      texts.RANKING_DOWN.format(points=_points(-delta)) if delta < 0 else
                      texts.RANKING_SAME)
            if row.previous_place is not None:
                change += texts.RANKING_PLACE_WAS.format(place=row.previous_place)
        counts = row.counts
        lines.append(texts.RANKING_LINE.format(
            place=row.place, name=row.name, score=_points(row.score),
            response=percent(counts.response_rate), resolution=percent(counts.resolution_rate),
            satisfaction=percent(counts.satisfaction_rate), requests=counts.requests,
            change=change))
    return lines


def ranking_text(scope: str, period_name: str, rows: Sequence[RankRow], weights: Weights) -> str:
    """`排名`: the units one level below `scope`, best first."""
    if not rows:
        return texts.RANKING_NO_UNITS.format(scope=scope)
    header = texts.RANKING_HEADER.format(
        scope=scope, period=period_name, response=_weight(weights.response, weights),
        resolution=_weight(weights.resolution, weights),
        satisfaction=_weight(weights.satisfaction, weights))
    return "\n".join([header, *ranking_lines(rows)])


def _change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return "—"
    points = round(100 * (now - before), 1)
    return f"{points:+.1f}个百分点"


def _average(duration) -> str:
    return texts.NO_AVERAGE if duration is None else format_chinese_duration(duration)


def monthly_report_text(scope: str, report: MonthReport, *, masked: bool = True) -> str:
    """The monthly 通报 of `scope`: its rates, their change since the month before, the ranking
    of the units below, the top categories and places. `masked` is kept for the outbox's rule
    (places are buildings, never rooms, so nothing personal is in it)."""
    counts = report.figures.counts
    lines = [
        texts.REPORT_HEADER.format(scope=scope, period=report.figures.period.name),
        texts.REPORT_SUMMARY.format(
            requests=counts.requests, households=counts.households,
            response=percent(counts.response_rate), on_time=percent(counts.on_time_rate),
            resolution=percent(counts.resolution_rate),
            satisfaction=percent(counts.satisfaction_rate), reopen=percent(counts.reopen_rate),
            claim_time=_average(counts.average_claim),
            resolve_time=_average(counts.average_resolve)),
    ]
    if report.previous is not None:
        lines.append(texts.REPORT_CHANGE.format(
            resolution=_change(counts.resolution_rate, report.previous.resolution_rate),
            satisfaction=_change(counts.satisfaction_rate, report.previous.satisfaction_rate)))
    if report.ranking:
        lines += [texts.REPORT_RANKING, *ranking_lines(report.ranking)]
    categories = "、".join(texts.REPORT_ITEM.format(
        name=texts.CATEGORY_NAMES.get(code, code), count=count) for code, count in report.categories)
    places = "、".join(texts.REPORT_ITEM.format(name=spot.name, count=spot.requests)
                       for spot in report.hot_spots)
    lines.append(texts.REPORT_CATEGORIES.format(items=categories or texts.REPORT_NONE))
    lines.append(texts.REPORT_PLACES.format(items=places or texts.REPORT_NONE))
    return "\n".join(lines)
