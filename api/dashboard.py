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
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import select

from api import actions
from api.csrf import served_over_https
from api.params import TicketNumber
from api.tokens import Principal, principal_for
from bot.runtime import Bot
from flows import lifecycle, texts
from flows.masking import (mask_name, mask_text, masked_for_node, shown_actor,
                           ticket_personal)
from flows.escalation import current_node, format_chinese_duration
from flows.open_tickets import OpenCount, OpenFigures, count_open, is_overdue, open_in
from flows.overview import satisfaction_text
from models.tables import Ticket, TicketEvent

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

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
    }


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


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _page(request, "login.html", None)
    bot = _bot(request)
    now = bot.clock()
    masked = masked_for_node(bot.network, principal.node_id)
    with bot.db.session() as session:
        active = session.exec(select(Ticket).where(open_in(principal.subtree))
                              .order_by(Ticket.created_at)).all()
        ratings = Counter(lifecycle.rating_in_note(note) for note in session.exec(
            select(TicketEvent.note).join(Ticket, Ticket.id == TicketEvent.ticket_id)  # type: ignore[arg-type]
            .where(Ticket.node_id.in_(principal.subtree), TicketEvent.kind == "rated",  # type: ignore[attr-defined]
                   TicketEvent.at >= now - timedelta(days=30))).all() if note)
    figures = count_open(bot.network, principal.node_id, active, now)
    rows = [_row(bot, t, now, masked) for t in active]
    groups = [{"title": "紧急", "tickets": [r for r in rows if r["urgent"]]},
              {"title": "一般", "tickets": [r for r in rows if not r["urgent"]]}]
    return _page(request, "home.html", principal, groups=groups, open_count=figures.total.open,
                 overdue_count=figures.total.overdue, chart=bar_chart(chart_rows(bot, figures)),
                 ratings={r: ratings.get(r, 0) for r in ("满意", "基本满意", "不满意")},
                 satisfaction=satisfaction_text(ratings))


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
        if ticket is None or ticket.node_id not in principal.subtree:
            return _page(request, "base.html", principal,
                         status_code=404, flash=f"没有找到 #{number}。", flash_error=True)
        events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == number)
                              .order_by(TicketEvent.id)).all()
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
                         for e in events])


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
