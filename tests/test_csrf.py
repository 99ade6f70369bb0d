"""The dashboard's POSTs carry a CSRF token (asgi-csrf, double submit): a cross-site form posted
with the login cookie changes nothing; the cookies get `Secure` when served over HTTPS."""

from __future__ import annotations

import re

import httpx
from sqlmodel import select

from api.app import create_app
from models.tables import Status, Ticket

from test_api import world  # noqa: F401 - the fixture


def token_in(page: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)


def status_of(db, number: int) -> str:
    with db.session() as session:
        return session.exec(select(Ticket).where(Ticket.id == number)).one().status


async def logged_in(client: httpx.AsyncClient, token: str) -> None:
    form = await client.get("/")
    response = await client.post("/login", data={"token": token, "csrftoken": token_in(form.text)})
    assert response.status_code == 303


async def test_a_cross_site_claim_with_the_cookie_is_refused(world, db):  # noqa: F811
    app, client, tokens = world
    await logged_in(client, tokens["shibalong-1"])
    # Another site's form: the browser sends the cookies, but the page's token is not known there.
    forged = await client.post("/tickets/2/claim", data={},
                               headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "操作未执行" in forged.text
    wrong = await client.post("/tickets/2/claim", data={"csrftoken": "guess"})
    assert wrong.status_code == 403
    assert status_of(db, 2) == Status.OPEN
    # The page's own form carries it.
    page = await client.get("/tickets/2")
    claimed = await client.post("/tickets/2/claim", data={"csrftoken": token_in(page.text)})
    assert claimed.status_code == 303 and claimed.headers["location"] == "/tickets/2?notice=claimed"
    assert status_of(db, 2) == Status.CLAIMED


async def test_the_token_api_and_the_webhook_need_no_csrf_token(world, db):  # noqa: F811
    app, client, tokens = world
    client.cookies.set("gridbot_token", tokens["shibalong-1"])   # even with a stray cookie
    response = await client.post("/api/tickets/2/claim",
                                 headers={"Authorization": f"Bearer {tokens['shibalong-1']}"})
    assert response.status_code == 200 and status_of(db, 2) == Status.CLAIMED


async def test_cookies_are_secure_over_https_only(world, sim):  # noqa: F811
    app, client, tokens = world
    for base, secure in (("https://dashboard.example", True), ("http://dashboard.example", False)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim.bot)),
                                     base_url=base) as browser:
            form = await browser.get("/")
            assert ("Secure" in form.headers["set-cookie"]) is secure     # the CSRF cookie
            response = await browser.post("/login", data={"token": tokens["shibalong-1"],
                                                          "csrftoken": token_in(form.text)})
            [session_cookie] = [c for c in response.headers.get_list("set-cookie")
                                if c.startswith("gridbot_token=")]
            assert ("secure" in session_cookie.lower()) is secure
            assert "httponly" in session_cookie.lower() and "samesite=strict" in session_cookie.lower()
