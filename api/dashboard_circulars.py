"""The dashboard's circulars (通知下发): a form to send one from the token's node (or schedule
it), the list of those the token sees, and one circular's history (which groups got it when,
who confirmed), with the API's scope and rules (api/circulars.py, bot/circulars.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.circulars import CircularIn, send_circular
from api.dashboard import _bot, _page, _principal
from api.params import TicketNumber
from bot import circulars
from flows import texts

router = APIRouter(include_in_schema=False)


def _time(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime(texts.TIME_FORMAT) if moment else "—"


def _list_page(request: Request, principal, *, status_code: int = 200, flash: str | None = None,
               flash_error: bool = False, text: str = "") -> HTMLResponse:
    bot = _bot(request)
    zone = ZoneInfo(bot.config.policy.timezone)
    network = bot.network
    with bot.db.session() as session:
        rows = circulars.listing(session, network, principal.node_id)
    below = network.levels[network.level_index(principal.node_id) + 1:]
    return _page(request, "circulars.html", principal, status_code=status_code, flash=flash,
                 flash_error=flash_error, text=text,
                 levels=[(level, texts.LEVEL_NAMES.get(level, level)) for level in below],
                 rows=[{**row, "sent": _time(row["sent_at"], zone),
                        "send": _time(row["send_at"], zone)} for row in rows])


@router.get("/circulars", response_class=HTMLResponse)
def circulars_page(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/", status_code=303)
    return _list_page(request, principal)


@router.post("/circulars")
async def send_from_page(request: Request, text: str = Form(""), urgent: str = Form(""),
                         down_to: str = Form(""), send_at: str = Form("")) -> Response:
    """Send (or schedule) a circular from the token's node. Done: a redirect to its page.
    Refused: the list page with the reason."""
    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/", status_code=303)
    bot = _bot(request)
    if not text.strip():
        return _list_page(request, principal, status_code=422,
                          flash=texts.DASHBOARD_CIRCULAR_EMPTY, flash_error=True)
    try:
        when = datetime.fromisoformat(send_at.strip()) if send_at.strip() else None
        body = CircularIn(text=text.strip(), urgent=urgent == "1", down_to=down_to or None,
                          send_at=when)
    except ValueError:
        return _list_page(request, principal, status_code=422, text=text,
                          flash=texts.DASHBOARD_CIRCULAR_BAD_TIME, flash_error=True)
    try:
        number = send_circular(bot, principal, body)
    except HTTPException as refused:
        return _list_page(request, principal, status_code=refused.status_code, text=text,
                          flash=str(refused.detail), flash_error=True)
    await bot.deliver()
    with bot.db.session() as session:
        sent = circulars.find(session, number).sent_at is not None
    notice = "circular_sent" if sent else "circular_scheduled"
    return RedirectResponse(f"/circulars/{number}?notice={notice}", status_code=303)


@router.get("/circulars/{number}", response_class=HTMLResponse)
def circular_page(number: TicketNumber, request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/", status_code=303)
    bot = _bot(request)
    zone = ZoneInfo(bot.config.policy.timezone)
    with bot.db.session() as session:
        found = circulars.history(session, bot.network, principal.node_id, number)
    if found is None:
        return _page(request, "base.html", principal, status_code=404,
                     flash=texts.CIRCULAR_NOT_FOUND.format(number=number), flash_error=True)
    groups = [{**group, "posted": _time(group["posted_at"], zone),
               "delivered": _time(group["delivered_at"], zone),
               "confirmed": _time(group["head_receipt_at"], zone)} for group in found["groups"]]
    return _page(request, "circular.html", principal, c=found, groups=groups,
                 sent=_time(found["sent_at"], zone), send=_time(found["send_at"], zone),
                 confirmed=sum(1 for group in groups if group["head_receipt_at"]))
