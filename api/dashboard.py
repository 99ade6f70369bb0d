"""The dashboard: server-rendered pages over the same data and rules as the API.

Log in with a token (kept in an HTTP-only cookie); see the open tickets of my subtree grouped by
urgency, oldest first, overdue ones in red; open a ticket for its history and claim it; a small
chart of open and overdue tickets by the level where they stand now, drawn here as SVG (no
script, no build step). The headline, the list and the chart count by one rule
(flows/open_tickets.py), so they always agree with each other and with `/api/network`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import func, select

from api import actions
from api.attachments import attachment_file
from api.csrf import served_over_https
from api.params import TicketNumber
from api.tokens import Principal, principal_for
from bot.attachments import attachments_of
from bot.runtime import Bot
from flows import lifecycle, texts
from flows.attachments import size_text
from flows.deadlines import DeadlineView
from flows.masking import (mask_name, mask_text, masked_for_node, shown_actor,
                           ticket_personal)
from flows.escalation import current_node, format_chinese_duration
from flows.open_tickets import OpenCount, OpenFigures, is_overdue, open_in, overdue_at
from flows.overview import satisfaction_text
from models.subtrees import in_subtree, open_figures
from models.tables import Ticket, TicketEvent

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _merge_query(kept: dict[str, str], key: str, value: int) -> str:
    """The query string of a page link: the filters kept, and `key` (a list's page) set."""
    return urlencode({**kept, key: value})


templates.env.filters["merge_query"] = _merge_query

COOKIE = "gridbot_token"


def _bot(request: Request) -> Bot:
    return request.app.state.bot


def _principal(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE)
    return principal_for(_bot(request).db, _bot(request).network, token) if token else None


def _page(request: Request, name: str, principal: Principal | None, status_code: int = 200,
          *, flash: str | None = None, flash_error: bool = False, **context) -> HTMLResponse:
    """A page of the dashboard. Its alert box shows `flash` (a refusal: `flash_error`), else the
    notice named by `?notice=<key>` in texts.DASHBOARD_NOTICES (after a redirect); a key not in
    that list shows nothing. No text of the URL ever reaches the alert box."""
    bot = _bot(request)
    scope = bot.network.node(principal.node_id).name if principal else ""
    if flash is None:
        flash = texts.DASHBOARD_NOTICES.get(request.query_params.get("notice", ""))
    csrftoken = request.scope.get("csrftoken")  # api/csrf.py: the form field every POST carries
    return templates.TemplateResponse(request, name, {
        "principal": principal, "scope_name": scope, "flash": flash,
        "csrftoken": csrftoken() if csrftoken else "", "flash_error": flash_error, **context},
        status_code=status_code)


def _row(bot: Bot, ticket: Ticket, now: datetime, masked: bool) -> dict:
    where = current_node(bot.network, ticket) if ticket.node_id in bot.network else None
    head = lifecycle.headline(ticket)
    return {
        "number": ticket.id, "urgent": ticket.urgent, "status": ticket.status,
        "status_name": texts.STATUS_NAMES[ticket.status], "category_name": head["category"],
        "location": texts.location_text(ticket.building, ticket.unit, ticket.floor,
                                        None if masked else ticket.room),
        "description": mask_text(ticket.text, ticket_personal(ticket.reporter_name, ticket.room))
        if masked else ticket.text,
        "reporter_name": mask_name(ticket.reporter_name) if masked else ticket.reporter_name,
        "assignee_name": ticket.assignee_name,
        "where": where.name if where else ticket.node_id,
        "age": format_chinese_duration(now - ticket.created_at),
        "overdue": is_overdue(ticket, now),
        "deadline": _deadlines(bot, now).of(ticket) or texts.NO_DEADLINE,
    }


def _deadlines(bot: Bot, now: datetime) -> DeadlineView:
    """Deadlines read at `now` on the policy's working calendar (flows/deadlines.py)."""
    policy = bot.config.policy
    return DeadlineView(now, ZoneInfo(policy.timezone), policy.calendar(), policy.timers_for)


def bar_chart(rows: list[tuple[str, str, OpenCount]]) -> str:
    """Open and overdue tickets as a small horizontal SVG bar chart, one pair of bars per row.

    `rows`: (key, label, counts) in display order; the key is put on the row's `<g>` as
    `data-key`, with `data-open` and `data-overdue`, so tests and tools can read the numbers.
    Returns the SVG as markup (labels escaped)."""
    width, bar, gap, label = 360, 14, 10, 96
    top = max([counts.open for _, _, counts in rows] + [1])
    height = len(rows) * (2 * bar + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width + label + 40} {height}" '
             f'width="{width + label + 40}" height="{height}" role="img" '
             f'aria-label="{texts.CHART_LABEL}">',
             f'<text x="0" y="12" font-size="12">{texts.CHART_LEGEND_OPEN} '
             f'<tspan fill="#b91c1c">{texts.CHART_LEGEND_OVERDUE}</tspan></text>']
    for index, (key, name, counts) in enumerate(rows):
        y = 24 + index * (2 * bar + gap)
        parts.append(f'<g data-key="{escape(key)}" data-open="{counts.open}" '
                     f'data-overdue="{counts.overdue}">'
                     f'<text x="0" y="{y + bar}" font-size="12">{escape(name)}</text>')
        for offset, value, colour in ((0, counts.open, "#52606d"), (bar, counts.overdue, "#b91c1c")):
            length = int(width * value / top)
            parts.append(f'<rect x="{label}" y="{y + offset}" width="{length}" height="{bar - 2}" '
                         f'fill="{colour}"/><text x="{label + length + 4}" y="{y + offset + bar - 4}" '
                         f'font-size="11">{value}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


ABOVE_KEY = "above"   # the chart row of tickets escalated past the subtree's top node


def chart_rows(bot: Bot, figures: OpenFigures) -> list[tuple[str, str, OpenCount]]:
    """The chart's rows for a subtree's open figures: one per level from the subtree's top node's
    level down (where the tickets stand now), then, below the network's top, the tickets escalated
    above the subtree. Their open counts add up to `figures.total.open` (the headline)."""
    levels = bot.config.levels
    root = bot.network.node(figures.root_id)
    rows = [(level, texts.LEVEL_NAMES.get(level, level), figures.level(level))
            for level in levels[levels.index(root.level):]]
    if bot.network.parent(root.id) is not None:
        rows.append((ABOVE_KEY, texts.CHART_ESCALATED_ABOVE, figures.escalated_above(root.id)))
    return rows


PAGE_ROWS = 20   # rows per list on a page: the city has 96,000 open tickets, a page shows 20


def _whole(text: str | None, default: int = 1) -> int:
    """A page number from the query string: a whole number ≥ 1, else `default`."""
    return int(text) if text and text.isdigit() and 0 < int(text) < 10**6 else default


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """The open tickets of my subtree: the headline and the per-level chart (counted in SQL by
    home node and escalation level), and per urgency the first page of its list, oldest first,
    narrowed by the filters (a node of my subtree, a category, overdue only). Never every row:
    the page costs the same for a micro-grid and for the city."""
    principal = _principal(request)
    if principal is None:
        return _page(request, "login.html", None)
    bot = _bot(request)
    now = bot.clock()
    masked = masked_for_node(bot.network, principal.node_id)
    query = request.query_params
    node_id = query.get("node") or principal.node_id
    if node_id not in principal.subtree:
        node_id = principal.node_id
    category = query.get("category") or None
    if category not in texts.CATEGORY_NAMES:
        category = None
    late_only = query.get("overdue") == "1"
    narrowed = []
    if category is not None:
        narrowed.append(Ticket.category == category)
    if late_only:
        narrowed.append(overdue_at(now))
    filters = [open_in(in_subtree(bot.network, node_id)), *narrowed]
    listed = [open_in(in_subtree(bot.network, node_id, per_row=True)), *narrowed]
    with bot.db.session() as session:
        # The headline and the chart need the top node's figures alone.
        figures = open_figures(session, bot.network, principal.node_id, now, per_node=False)
        sizes = dict(session.exec(select(Ticket.urgent, func.count()).where(*filters)
                                  .group_by(Ticket.urgent)).all())
        groups = []
        for title, urgent, key in (("紧急", True, "urgent_page"), ("一般", False, "page")):
            total = sizes.get(urgent, 0)
            pages = max(1, -(-total // PAGE_ROWS))
            number = min(_whole(query.get(key)), pages)
            # The oldest first: walk the open tickets by age, testing the subtree on each.
            shown = session.exec(select(Ticket).where(*listed, Ticket.urgent.is_(urgent))  # type: ignore[attr-defined]
                                 .order_by(Ticket.created_at, Ticket.id)
                                 .offset((number - 1) * PAGE_ROWS).limit(PAGE_ROWS)).all()
            groups.append({"title": title, "total": total, "page": number, "pages": pages,
                           "key": key, "tickets": [_row(bot, t, now, masked) for t in shown]})
        rated = (select(TicketEvent.note, func.count())
                 .where(TicketEvent.kind == "rated", TicketEvent.at >= now - timedelta(days=30))
                 .group_by(TicketEvent.note))
        if not principal.top:   # at the top, every rating counts: no ticket to look up
            # A month of ratings is many rows: start from the subtree's tickets and their
            # events' (ticket, kind, time) index.
            rated = rated.join(Ticket, Ticket.id == TicketEvent.ticket_id).where(  # type: ignore[arg-type]
                in_subtree(bot.network, principal.node_id))
        ratings: Counter = Counter()
        for note, count in session.exec(rated).all():
            if note:
                ratings[lifecycle.rating_in_note(note)] += count
    home_node = bot.network.node(principal.node_id)
    nodes = [home_node, *home_node.children]
    if node_id not in {node.id for node in nodes}:
        nodes.append(bot.network.node(node_id))
    kept = {key: value for key, value in (("node", node_id if node_id != principal.node_id else ""),
                                          ("category", category or ""),
                                          ("overdue", "1" if late_only else "")) if value}
    return _page(request, "home.html", principal, groups=groups, open_count=figures.total.open,
                 overdue_count=figures.total.overdue, chart=bar_chart(chart_rows(bot, figures)),
                 ratings={r: ratings.get(r, 0) for r in ("满意", "基本满意", "不满意")},
                 satisfaction=satisfaction_text(ratings), filter_nodes=nodes, node_id=node_id,
                 categories=texts.CATEGORY_NAMES, category=category, late_only=late_only,
                 kept=kept)


@router.post("/login")
def login(request: Request, token: str = Form("")) -> Response:
    if principal_for(_bot(request).db, _bot(request).network, token.strip()) is None:
        return _page(request, "login.html", None, status_code=401,
                     flash="令牌无效或已停用，请核对。", flash_error=True)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=served_over_https(request.scope))
    return response


@router.get("/logout")
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/tickets/{number}", response_class=HTMLResponse)
def ticket_page(number: TicketNumber, request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/", status_code=303)
    return _ticket_view(request, principal, number)


def _ticket_view(request: Request, principal: Principal, number: int, *, status_code: int = 200,
                 flash: str | None = None, flash_error: bool = False) -> HTMLResponse:
    """A ticket's page with its history; 404 when it is not in the principal's subtree."""
    bot = _bot(request)
    with bot.db.session() as session:
        ticket = session.get(Ticket, number)
        if ticket is None or not principal.sees(ticket):
            return _page(request, "base.html", principal,
                         status_code=404, flash=f"没有找到 #{number}。", flash_error=True)
        events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == number)
                              .order_by(TicketEvent.id)).all()
        media = attachments_of(session, number)
    zone = ZoneInfo(bot.config.policy.timezone)
    masked = masked_for_node(bot.network, principal.node_id)
    return _page(request, "ticket.html", principal, status_code=status_code, flash=flash,
                 flash_error=flash_error, t=_row(bot, ticket, bot.clock(), masked),
                 events=[{"time": e.at.astimezone(zone).strftime(texts.TIME_FORMAT),
                          "kind_name": texts.EVENT_NAMES.get(e.kind, e.kind),
                          "actor_name": shown_actor(bot.network, e.actor_id, e.actor_name, masked),
                          "note": mask_text(e.note, ticket_personal(ticket.reporter_name,
                                                                    ticket.room))
                          if masked and e.note else e.note}
                         for e in events],
                 media=[{"id": m.id, "kind": m.kind, "kept": bool(m.path),
                         "kind_name": texts.MEDIA_KIND_NAMES.get(m.kind, m.kind),
                         "purpose_name": texts.MEDIA_PURPOSE_NAMES.get(m.purpose or "", ""),
                         "size": size_text(m.size) if m.size else "",
                         "time": m.at.astimezone(zone).strftime(texts.TIME_FORMAT),
                         "label": (m.details or {}).get("label", "")}
                        for m in media])


@router.get("/attachments/{attachment_id}")
def attachment_from_page(attachment_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
                         request: Request) -> Response:
    """An attachment's content for the ticket page (`<img>`, `<audio>`), with the login
    cookie; 404 outside the subtree, as the API (api/attachments.py)."""
    principal = _principal(request)
    if principal is None:
        return Response(status_code=401)
    return attachment_file(_bot(request), principal, attachment_id)


@router.post("/tickets/{number}/claim")
async def claim_from_page(number: TicketNumber, request: Request) -> Response:
    """Claim from the ticket's page. Done: a redirect to the page with `?notice=claimed`.
    Refused: the page itself, with the reason the chat would give (its status: 404 or 409)."""
    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/", status_code=303)
    bot = _bot(request)
    try:
        actions.act(bot, principal, number,
                    lambda b, s, t, a: lifecycle.claim(t, a, b.clock()))
    except HTTPException as refused:
        return _ticket_view(request, principal, number, status_code=refused.status_code,
                            flash=str(refused.detail), flash_error=True)
    await bot.deliver()
    return RedirectResponse(f"/tickets/{number}?notice=claimed", status_code=303)


# -- 考核: the rates, the ranking, the trend, the hot spots (flows/figures.py) -------------------

TREND_DAYS = (30, 90)


def trend_chart(days: list) -> str:
    """New requests and resolutions per day as a small SVG column chart (two thin columns a
    day), scaled to its box so 90 days fit a phone. Each day's `<g>` carries `data-day`,
    `data-new` and `data-resolved` for tests and tools."""
    width, height, base = 360, 124, 100
    step = width / max(len(days), 1)
    column = max(step / 2 - 0.5, 0.5)
    top = max([max(day.new, day.resolved) for day in days] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{texts.TREND_LABEL}" '
             f'class="trend">',
             f'<text x="0" y="12" font-size="12">{texts.TREND_LEGEND_NEW} '
             f'<tspan fill="#1d4ed8">{texts.TREND_LEGEND_RESOLVED}</tspan>（最多 {top} 张/天）</text>']
    for index, day in enumerate(days):
        x = index * step
        parts.append(f'<g data-day="{day.day.isoformat()}" data-new="{day.new}" '
                     f'data-resolved="{day.resolved}">')
        for offset, value, colour in ((0, day.new, "#52606d"), (column, day.resolved, "#1d4ed8")):
            length = (base - 20) * value / top
            parts.append(f'<rect x="{x + offset:.1f}" y="{base - length:.1f}" '
                         f'width="{column:.1f}" height="{length:.1f}" fill="{colour}"/>')
        parts.append("</g>")
    for index in (0, len(days) - 1):   # the first and last day under the axis
        if days:
            anchor = "start" if index == 0 else "end"
            parts.append(f'<text x="{(index + (index > 0)) * step:.1f}" y="{base + 16}" '
                         f'font-size="12" text-anchor="{anchor}">{days[index].day:%m-%d}</text>')
    parts.append(f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="#9aa5b1"/></svg>')
    return "".join(parts)


def count_chart(rows: list[tuple[str, str, int]], label: str) -> str:
    """Counts as horizontal SVG bars, one per row (key, label, count); each `<g>` carries
    `data-key` and `data-count`."""
    width, bar, gap, name = 220, 14, 6, 110
    top = max([count for _, _, count in rows] + [1])
    height = len(rows) * (bar + gap) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width + name + 40} {height}" '
             f'width="{width + name + 40}" height="{height}" role="img" aria-label="{escape(label)}">']
    for index, (key, shown, count) in enumerate(rows):
        y = index * (bar + gap)
        length = int(width * count / top)
        parts.append(f'<g data-key="{escape(key)}" data-count="{count}">'
                     f'<text x="0" y="{y + bar - 2}" font-size="12">{escape(shown[:9])}</text>'
                     f'<rect x="{name}" y="{y}" width="{length}" height="{bar - 2}" fill="#52606d"/>'
                     f'<text x="{name + length + 4}" y="{y + bar - 2}" font-size="11">{count}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _rates_period(bot: Bot, month: str | None):
    from flows.figures import month_period, parse_month

    zone = ZoneInfo(bot.config.policy.timezone)
    if month:
        try:
            return month_period(parse_month(month), zone)
        except ValueError:
            pass
    return month_period(bot.clock().astimezone(zone).date(), zone)


@router.get("/rates", response_class=HTMLResponse)
def rates_page(request: Request) -> Response:
    """考核: the rates of my subtree for a month (default this one, so far), the units one level
    below ranked, the top categories and places, and new and resolved tickets per day over the
    last 30 or 90 days; the same computation as `/api/nodes/{id}/rates` and the digests."""
    from bot.rate_reports import gather_month_report, gather_trend
    from flows.figures import percent

    principal = _principal(request)
    if principal is None:
        return _page(request, "login.html", None)
    bot = _bot(request)
    now = bot.clock()
    zone = ZoneInfo(bot.config.policy.timezone)
    period = _rates_period(bot, request.query_params.get("month"))
    days = _whole(request.query_params.get("days"), TREND_DAYS[0])
    days = days if days in TREND_DAYS else TREND_DAYS[0]
    with bot.db.session() as session:
        report = gather_month_report(session, bot.config, bot.network, principal.node_id,
                                     period, now)
        trend = gather_trend(session, bot.network, principal.node_id, days, now, zone)
    counts = report.figures.counts

    def minutes(duration) -> str:
        return texts.NO_AVERAGE if duration is None else format_chinese_duration(duration)

    summary = [("受理", f"{counts.requests} 件"), ("服务户次", str(counts.households)),
               ("响应率", percent(counts.response_rate)),
               ("按期办结率", percent(counts.on_time_rate)),
               ("解决率", percent(counts.resolution_rate)),
               ("满意率", percent(counts.satisfaction_rate)),
               ("重办率", percent(counts.reopen_rate)),
               ("平均接单", minutes(counts.average_claim)),
               ("90%接单", minutes(report.figures.p90_claim)),
               ("平均办结", minutes(counts.average_resolve)),
               ("90%办结", minutes(report.figures.p90_resolve))]
    ranking = [{"place": row.place, "name": row.name,
                "score": "—" if row.score is None else f"{row.score:.1f}",
                "response": percent(row.counts.response_rate),
                "resolution": percent(row.counts.resolution_rate),
                "satisfaction": percent(row.counts.satisfaction_rate),
                "requests": row.counts.requests,
                "change": "—" if row.change is None else f"{row.change:+.1f}"}
               for row in report.ranking]
    categories = count_chart([(code, texts.CATEGORY_NAMES.get(code, code), count)
                              for code, count in report.categories], texts.CATEGORY_CHART_LABEL)
    return _page(request, "rates.html", principal, period=period, summary=summary,
                 ranking=ranking, trend=trend_chart(trend), days=days, trend_days=TREND_DAYS,
                 categories=categories, hot_spots=report.hot_spots,
                 month=period.start.astimezone(zone).strftime("%Y-%m"))


@router.get("/rates/report.xlsx")
def rates_workbook(request: Request) -> Response:
    """The dashboard's button: the month's report as an Excel workbook, for my subtree, masked
    for my level (`api.rates.workbook_bytes`)."""
    from api.rates import XLSX, workbook_bytes

    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/", status_code=303)
    bot = _bot(request)
    period = _rates_period(bot, request.query_params.get("month"))
    month = period.start.astimezone(ZoneInfo(bot.config.policy.timezone)).strftime("%Y-%m")
    content = workbook_bytes(bot, principal, principal.node_id, month=month)
    return Response(content, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="report-{month}.xlsx"'})
