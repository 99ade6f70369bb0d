"""The rates grid offices are judged by (考核指标): one definition behind chat's `排名`, the
monthly 通报, the digests, `/api/nodes/{id}/rates`, the Excel report and the dashboard.

The tickets a period covers are the **requests** (受理) made in it: tickets created in
[start, end), neither reports joined to another ticket of the same problem (一事多报, status
merged, `parent_id`) nor withdrawn by the resident (撤单). Each figure follows them to `asof`
(the time of asking), as the monthly 三率 of Beijing's 接诉即办 follow a month's requests:

- **响应率 response rate** = requests claimed within the claim limit / requests whose claim came
  due (claimed, or still waiting past the limit). "Within the limit" is the bot's own timer: a
  ticket the claim timer escalated (吹哨, `ticket_escalation.cause = 'claim'`) was not, whatever
  the limit (wall clock or working time, per category and urgency, policy.timers). Source:
  Beijing 接诉即办 考评 响应率 (接诉后按时联系诉求人的比例); 12345 hotline rules on 签收时限.
- **按期办结率 on-time resolution rate** = requests resolved within the resolve limit / requests
  resolved. Extensions granted (延期) move the deadline and the timer waits for it, so a ticket
  resolved within its extended limit is on time; one the resolve timer escalated is not.
  Source: city-management 按期结案率 (按期结案数 / 结案数), 12345 按时办结率.
- **解决率 resolution rate** = requests resolved / requests that came due for resolution
  (resolved, escalated by the resolve timer, or claimed and past the resolve deadline at
  `asof`). Source: city-management 结案率 (结案数 / 应结案数); Beijing 接诉即办 解决率.
- **满意率 satisfaction rate** = (满意 + 基本满意) / requests rated. Source: Beijing 接诉即办
  满意率 (回访满意、基本满意 / 回访总数); 12345 回访满意率.
- **重办率 reopen rate** = requests reopened (a 不满意 rating sent them back, `reopened` event) /
  requests resolved at least once. Source: 12345 重办率 / 返工率.
- **times to claim and to resolve**: from the request to the claim (to the resolution), averaged
  and at the 90th percentile (nearest rank, to the minute) over the requests claimed
  (resolved); wall-clock time.
- **households reached** (服务户次): the requests plus the reports joined to a ticket of the same
  problem (`flows/repeats.py`): each report is one household heard.

Counts are made by the database (`rate_rows`, `report_rows`: one statement over a materialised
table of the period's tickets, grouped by home node, the subtree one range of
`models.subtrees.in_subtree`); `roll_up` adds a subtree's rows up to each unit one
level below, so a ranking costs as many rows as the subtree has nodes, never as it has tickets.
Nothing here reads or writes the database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Float, String, and_, case, cast, exists, false, literal, null, or_, true, union_all
from sqlmodel import func, select

from flows.network import Network
from models.db import seconds_between, whole_minutes
from models.tables import ID_LENGTH, Status, Ticket, TicketEscalation, TicketEvent

PERCENTILE = 0.9   # the "90th percentile" of the times, by the nearest-rank method
SATISFIED = ("满意", "基本满意")
NOT_REQUESTS = (Status.MERGED.value, Status.CANCELLED.value)

__all__ = ["Period", "RateCounts", "Figures", "RankRow", "Weights", "day_period", "month_period",
           "parse_month", "percent", "percentile_of", "percentile_offset", "period_of",
           "period_tickets", "prepare_roll_up", "rank_units", "rate_rows", "reopened_since",
           "report_rows", "roll_up", "requests_in", "score", "week_period"]


# -- periods ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """[start, end) in aware datetimes, with its name as chat shows it (`2026年11月`)."""

    start: datetime
    end: datetime
    name: str
    kind: str = "range"   # day, week, month or range

    def previous(self) -> Period:
        """The period of the same kind just before (the month before for a month)."""
        zone = self.start.tzinfo
        if self.kind == "month":
            local = self.start.astimezone(zone)
            first = (local.date().replace(day=1) - timedelta(days=1)).replace(day=1)
            return month_period(first, zone)  # type: ignore[arg-type]
        length = self.end - self.start
        return Period(self.start - length, self.start, self.name, self.kind)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def day_period(day: date, zone: ZoneInfo) -> Period:
    """The local day `day` (policy.timezone)."""
    return Period(_local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone),
                  f"{day.month}月{day.day}日", "day")


def week_period(day: date, zone: ZoneInfo) -> Period:
    """The local week (Monday to Sunday) holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return Period(_local_midnight(monday, zone), _local_midnight(monday + timedelta(days=7), zone),
                  f"{monday.month}月{monday.day}日起一周", "week")


def month_period(day: date, zone: ZoneInfo) -> Period:
    """The local calendar month holding `day`."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(_local_midnight(first, zone), _local_midnight(following, zone),
                  f"{first.year}年{first.month}月", "month")


def parse_month(text: str) -> date:
    """`2026-11` (or `2026-11-05`, `2026年11月`) → its first day. ValueError when it is none."""
    cleaned = text.strip().replace("年", "-").replace("月", "").replace("/", "-")
    parts = cleaned.split("-")
    try:
        year, month = int(parts[0]), int(parts[1])
        return date(year, month, 1)
    except (ValueError, IndexError):
        raise ValueError(f"not a month: {text!r} (e.g. 2026-11)") from None


def period_of(kind: str, at: datetime, zone: ZoneInfo) -> Period:
    """The day, week or month (`kind`) holding the moment `at`, in `zone`. ValueError for
    another kind."""
    makers = {"day": day_period, "week": week_period, "month": month_period}
    if kind not in makers:
        raise ValueError(f"unknown period {kind!r} (day, week or month)")
    return makers[kind](at.astimezone(zone).date(), zone)


# -- the counts ---------------------------------------------------------------------------------

def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


@dataclass(frozen=True)
class RateCounts:
    """What the rates are made of, for one home node or summed over many (they add up).
    Times are seconds of wall-clock time."""

    requests: int = 0
    claim_due: int = 0            # claimed, or unclaimed past the claim limit
    claimed: int = 0
    claimed_in_time: int = 0
    due: int = 0                  # came due for resolution
    resolved: int = 0
    resolved_in_time: int = 0
    ever_resolved: int = 0        # resolved now, or resolved then reopened
    reopened: int = 0
    rated: int = 0
    satisfied: int = 0            # 满意 + 基本满意
    joined: int = 0               # reports joined to a ticket of the same problem
    claim_seconds: float = 0.0    # summed over the claimed
    resolve_seconds: float = 0.0  # summed over the resolved

    def __add__(self, other: RateCounts) -> RateCounts:
        return RateCounts(*(getattr(self, f.name) + getattr(other, f.name)
                            for f in fields(self)))

    @property
    def response_rate(self) -> float | None:
        """响应率, 0–1; None when no claim came due."""
        return _ratio(self.claimed_in_time, self.claim_due)

    @property
    def on_time_rate(self) -> float | None:
        """按期办结率, 0–1; None when nothing was resolved."""
        return _ratio(self.resolved_in_time, self.resolved)

    @property
    def resolution_rate(self) -> float | None:
        """解决率, 0–1; None when nothing came due."""
        return _ratio(self.resolved, self.due)

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率, 0–1; None when nothing was rated."""
        return _ratio(self.satisfied, self.rated)

    @property
    def reopen_rate(self) -> float | None:
        """重办率, 0–1; None when nothing was ever resolved."""
        return _ratio(self.reopened, self.ever_resolved)

    @property
    def households(self) -> int:
        """服务户次: requests plus the reports joined to them."""
        return self.requests + self.joined

    @property
    def average_claim(self) -> timedelta | None:
        return None if not self.claimed else timedelta(seconds=round(self.claim_seconds / self.claimed))

    @property
    def average_resolve(self) -> timedelta | None:
        return None if not self.resolved else timedelta(seconds=round(self.resolve_seconds / self.resolved))


COUNT_FIELDS = tuple(f.name for f in fields(RateCounts))


@dataclass(frozen=True)
class Figures:
    """A subtree's rates over a period: the counts and the two 90th percentiles."""

    node_id: str
    period: Period
    counts: RateCounts
    p90_claim: timedelta | None = None
    p90_resolve: timedelta | None = None


def requests_in(start: datetime, end: datetime):
    """SQL condition: a request (受理) made in [start, end): not joined, not withdrawn."""
    return and_(Ticket.created_at >= start, Ticket.created_at < end,
                Ticket.status.not_in(NOT_REQUESTS))  # type: ignore[attr-defined]


def _escalated_by(cause: str):
    return exists().where(TicketEscalation.ticket_id == Ticket.id, TicketEscalation.cause == cause)


def reopened_since(start: datetime):
    """SQL: the ids of the tickets reopened at or after `start`, which hold every reopening of
    a ticket created since then (a ticket is reopened after it is made). One range of the
    events' (kind, at) index, a few thousand rows for a city's month, looked up once: ~0.04 s
    of SQLite's CPU where looking each of the month's 84,000 tickets up among a year's events
    took ~0.38 s."""
    return select(TicketEvent.ticket_id).where(TicketEvent.kind == "reopened",
                                                TicketEvent.at >= start)


def period_tickets(scope, start: datetime, end: datetime, *, all_counts: bool = True):
    """SQL: a materialised common table expression of the tickets created in [start, end)
    within `scope` (an SQL condition on the home node, `in_subtree`), one row each with what
    the figures read: home node, status, rating, deadline, claim and resolution times, category,
    building, the seconds to claim and to resolve, `late` (1: the claim timer escalated it, 2:
    the resolve timer, 3: both) and `reopened`.

    Each ticket's look-ups (its escalations, its reopening: in the set of `reopened_since`,
    looked up once for the period) and its one visit to the table are made once here; every count of a report is then made from this table (a planner that
    flattened it into each count would repeat them). Without `all_counts`, the reopenings are
    not looked up and the times not computed (their counts are 0): what a score needs, for the
    period before a ranking's."""
    escalation = TicketEscalation.cause
    late = (select(func.coalesce(
        func.max(case((escalation == "claim", 1), else_=0))
        + 2 * func.max(case((escalation == "resolve", 1), else_=0)), 0))
        .where(TicketEscalation.ticket_id == Ticket.id).scalar_subquery())
    return (select(
        Ticket.node_id.label("node_id"), Ticket.status.label("status"),
        Ticket.rating.label("rating"), Ticket.deadline_at.label("deadline_at"),
        Ticket.claimed_at.label("claimed_at"), Ticket.resolved_at.label("resolved_at"),
        Ticket.category.label("category"), Ticket.building.label("building"),
        (time_to(Ticket.claimed_at) if all_counts else cast(null(), Float)).label("claim_seconds"),
        (time_to(Ticket.resolved_at) if all_counts else cast(null(), Float)).label("resolve_seconds"),
        late.label("late"),
        (Ticket.id.in_(reopened_since(start)) if all_counts else false()).label("reopened"),
    ).where(scope, Ticket.created_at >= start, Ticket.created_at < end)
        .cte("period_tickets").prefix_with("MATERIALIZED"))


def _request(t):
    return t.status.not_in(NOT_REQUESTS)


def _count_columns(t, asof: datetime) -> list:
    """The COUNT_FIELDS as aggregates over `period_tickets` rows, followed to `asof`."""
    request = _request(t)
    claim_late, resolve_late = t.late.in_((1, 3)), t.late >= 2
    reopened = t.reopened == true()
    claimed = t.claimed_at.is_not(None)
    resolved = t.resolved_at.is_not(None)
    past = and_(t.deadline_at.is_not(None), t.deadline_at <= asof)
    claim_due = or_(claimed, claim_late, and_(t.status == Status.OPEN.value, past))
    due = or_(resolved, resolve_late, and_(t.status == Status.CLAIMED.value, past))
    count = func.count
    return [
        count().filter(request),
        count().filter(request, claim_due),
        count().filter(request, claimed),
        count().filter(request, claimed, ~claim_late),
        count().filter(request, due),
        count().filter(request, resolved),
        count().filter(request, resolved, ~resolve_late),
        count().filter(request, or_(resolved, reopened)),
        count().filter(request, reopened),
        count().filter(request, t.rating.is_not(None)),
        count().filter(request, t.rating.in_(SATISFIED)),
        count().filter(t.status == Status.MERGED.value),
        func.coalesce(func.sum(t.claim_seconds).filter(request, claimed), 0.0),
        func.coalesce(func.sum(t.resolve_seconds).filter(request, resolved), 0.0),
    ]


def rate_rows(scope, start: datetime, end: datetime, asof: datetime, *, all_counts: bool = True):
    """SQL statement: (node_id, *COUNT_FIELDS) per home node over the tickets created in
    [start, end) within `scope` (an SQL condition on the home node, `in_subtree`), followed to
    `asof` (aware); `all_counts` as for `period_tickets`. Rows make `RateCounts` (`counts_of`,
    `roll_up`)."""
    t = period_tickets(scope, start, end, all_counts=all_counts).c
    return select(t.node_id, *_count_columns(t, asof)).group_by(t.node_id)


# The kinds of row `report_rows` answers (its first column).
NODE, CATEGORY, PLACE, CLAIM_MINUTES, RESOLVE_MINUTES = "node", "category", "place", "claim", "resolve"


def report_rows(scope, start: datetime, end: datetime, asof: datetime, top: int | None):
    """SQL statement: everything a report reads, from one visit to the period's tickets
    (`period_tickets`), as rows (kind, key, building, *numbers):

    - NODE: key the home node, then the COUNT_FIELDS (`rate_rows`);
    - CATEGORY: key the category, then the requests;
    - PLACE: key the home node, the building, then the requests (the `top` most, None: all);
    - CLAIM_MINUTES / RESOLVE_MINUTES: whole minutes to claim (resolve), then how many requests
      took them: the histogram the 90th percentiles are read from (`percentile_of`)."""
    tickets = period_tickets(scope, start, end)
    t = tickets.c
    request = _request(t)
    width = len(COUNT_FIELDS)
    text = String(ID_LENGTH)

    def row(kind: str, key, building, *numbers):
        padded = [cast(number, Float) for number in numbers]
        padded += [cast(null(), Float)] * (width - len(numbers))
        return [literal(kind, String(10)), cast(key, text), cast(building, text), *padded]

    count = func.count()
    places = (select(t.node_id, t.building, count.label("requests"))
              .where(request, t.building.is_not(None)).group_by(t.node_id, t.building)
              .order_by(count.desc(), t.node_id, t.building).limit(top).subquery())
    claim_minutes = whole_minutes(t.claim_seconds)
    resolve_minutes = whole_minutes(t.resolve_seconds)
    return union_all(
        select(*row(NODE, t.node_id, null(), *_count_columns(t, asof))).group_by(t.node_id),
        select(*row(CATEGORY, t.category, null(), count)).where(request).group_by(t.category),
        select(*row(PLACE, places.c.node_id, places.c.building, places.c.requests)),
        select(*row(CLAIM_MINUTES, null(), null(), claim_minutes, count))
        .where(request, t.claimed_at.is_not(None)).group_by(claim_minutes),
        select(*row(RESOLVE_MINUTES, null(), null(), resolve_minutes, count))
        .where(request, t.resolved_at.is_not(None)).group_by(resolve_minutes),
    )


def percentile_of(histogram: Mapping[int, int], share: float = PERCENTILE) -> timedelta | None:
    """The nearest-rank percentile of values counted by whole minute ({minutes: how many}), to
    the minute; None when there are none."""
    offset = percentile_offset(sum(histogram.values()), share)
    if offset is None:
        return None
    seen = 0
    for minutes in sorted(histogram):
        seen += histogram[minutes]
        if seen > offset:
            return timedelta(minutes=minutes)
    return None   # not reached: the offset is below the total


def counts_of(row: Sequence) -> RateCounts:
    """A row of `rate_rows` without its node id, as counts (seconds to a tenth: SQLite's day
    fractions carry a few microseconds of noise)."""
    return RateCounts(*(int(value) if name not in ("claim_seconds", "resolve_seconds")
                        else round(float(value or 0), 1) for name, value in zip(COUNT_FIELDS, row)))


def percentile_offset(count: int, share: float = PERCENTILE) -> int | None:
    """The 0-based position of the nearest-rank percentile among `count` sorted values (the
    smallest value at or above `share` of them); None when there are none."""
    return None if count <= 0 else max(math.ceil(share * count) - 1, 0)


def time_to(column):
    """SQL: seconds from the request to `column` (Ticket.claimed_at or resolved_at)."""
    return seconds_between(column, Ticket.created_at)


def roll_up(network: Network, root_id: str, rows: Iterable[tuple[str, Sequence]]
            ) -> tuple[RateCounts, dict[str, RateCounts]]:
    """(the root's subtree's counts, each unit one level below the root's) from the rows of
    `rate_rows` (node id, then the COUNT_FIELDS). Rows of nodes outside the subtree or gone from
    the network count for the root only when it is the top (which sees every ticket). KeyError
    when `root_id` is not a node. Cost: one look-up per row and one array sum, whatever the
    number of tickets (a city's month is some 30,000 rows)."""
    import numpy  # only where a subtree's rows are summed (see flows.open_tickets)

    units, unit_of = _units_below(network, root_id)
    subtree = network.subtree_ids(root_id)
    is_top = network.parent(root_id) is None
    width = len(COUNT_FIELDS)
    kept: list[Sequence] = []
    where: list[int] = []    # the row's unit, len(units) for the root itself (no unit)
    for node_id, *values in rows:
        unit = unit_of.get(node_id)
        if unit is None:
            if node_id not in subtree and not is_top:
                continue
            unit = len(units)
        kept.append(values)
        where.append(unit)
    sums = numpy.zeros((len(units) + 1, width))
    if kept:
        # NULL (no value) counts as 0, as in SQL's sums.
        numpy.add.at(sums, where, numpy.nan_to_num(numpy.array(kept, dtype=float)))
    total = sums.sum(axis=0)
    return counts_of(total), {unit: counts_of(sums[index]) for index, unit in enumerate(units)}


def prepare_roll_up(network: Network, root_id: str) -> None:
    """Do once what every `roll_up` under `root_id` starts with (numpy's import, the index of
    the units below: ~0.3 s at a city), before forking processes that each roll up."""
    import numpy  # noqa: F401

    _units_below(network, root_id)
    network.subtree_ids(root_id)


@lru_cache(maxsize=8)
def _units_below(network: Network, root_id: str) -> tuple[tuple[str, ...], dict[str, int]]:
    """(the ids of the units one level below `root_id`, {node id: its unit's index} for every
    node below the root)."""
    children = network.node(root_id).children
    unit_of = {node_id: index for index, child in enumerate(children)
               for node_id in network.subtree_ids(child.id)}
    return tuple(child.id for child in children), unit_of


# -- the ranking --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Weights:
    """Weights of the three rates in a unit's score (policy.ranking.weights)."""

    response: float
    resolution: float
    satisfaction: float


def score(counts: RateCounts, weights: Weights) -> float | None:
    """A unit's score, 0–100: the weighted mean of its 响应率, 解决率 and 满意率 in percent,
    over the rates it has (a unit with no ratings yet is scored on the other two, their weights
    scaled up). None for a unit with no request to judge it by. Source: the monthly 三率
    ranking of Beijing's 接诉即办 (weights in policy.ranking)."""
    parts = [(counts.response_rate, weights.response),
             (counts.resolution_rate, weights.resolution),
             (counts.satisfaction_rate, weights.satisfaction)]
    present = [(rate, weight) for rate, weight in parts if rate is not None and weight > 0]
    total = sum(weight for _, weight in present)
    if not counts.requests or not present or total <= 0:
        return None
    return 100 * sum(rate * weight for rate, weight in present) / total


@dataclass(frozen=True)
class RankRow:
    """One unit in a ranking: its place (None: nothing to judge it by), score, counts, and the
    month before's place and score when known."""

    place: int | None
    node_id: str
    name: str
    score: float | None
    counts: RateCounts
    previous_place: int | None = None
    previous_score: float | None = None

    @property
    def change(self) -> float | None:
        """The score's change since the period before (points), None when either is missing."""
        if self.score is None or self.previous_score is None:
            return None
        return self.score - self.previous_score


def _places(scored: Mapping[str, float | None]) -> dict[str, int]:
    ordered = sorted((value, node_id) for node_id, value in scored.items() if value is not None)
    ordered.sort(key=lambda pair: -pair[0])
    places: dict[str, int] = {}
    for index, (value, node_id) in enumerate(ordered):
        # Equal scores share a place (1, 2, 2, 4), as published rankings do.
        if index and ordered[index - 1][0] == value:
            places[node_id] = places[ordered[index - 1][1]]
        else:
            places[node_id] = index + 1
    return places


def rank_units(units: Mapping[str, RateCounts], names: Mapping[str, str], weights: Weights,
               previous: Mapping[str, RateCounts] | None = None) -> list[RankRow]:
    """The units ranked by `score`, best first (ties share a place, then by name); units with
    nothing to judge last. `previous`: the same units' counts of the period before, for the
    change."""
    scores = {node_id: score(counts, weights) for node_id, counts in units.items()}
    places = _places(scores)
    before_scores = {node_id: score(counts, weights)
                     for node_id, counts in (previous or {}).items()}
    before_places = _places(before_scores)
    rows = [RankRow(places.get(node_id), node_id, names.get(node_id, node_id), scores[node_id],
                    counts, before_places.get(node_id), before_scores.get(node_id))
            for node_id, counts in units.items()]
    return sorted(rows, key=lambda row: (row.place is None, row.place or 0, row.name))


def percent(rate: float | None) -> str:
    """A rate as chat and the report show it: `85.7%`, or `—` when there is none."""
    return "—" if rate is None else f"{rate:.1%}"
