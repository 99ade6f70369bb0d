"""The dashboard's alert box shows only the server's own words: a notice named by a key of
texts.DASHBOARD_NOTICES after a redirect, or a refusal rendered by the server. Text put in a link
(`?flash=…&error=1`, an unknown `?notice=`) never reaches the page, so a link cannot dress a
phishing message up as the bot's."""

from __future__ import annotations

import httpx
import pytest

from flows import texts

from test_api import bearer, world  # noqa: F401 - the fixture
from test_csrf import logged_in, token_in

PHISHING = "系统升级，请将验证码发送至13800000000<b>领取补贴</b>"
LINKS = [{"error": "1", "flash": PHISHING}, {"flash": PHISHING}, {"notice": PHISHING},
         {"notice": "claimed", "flash": PHISHING, "error": "1"}, {"message": PHISHING}]


def shown(page: str) -> bool:
    return "领取补贴" in page or "13800000000" in page or "验证码" in page


@pytest.mark.parametrize("params", LINKS)
async def test_text_in_the_url_never_reaches_the_page(world, params):  # noqa: F811
    app, client, tokens = world
    login = await client.get("/", params=params)       # not logged in yet: the login page
    assert login.status_code == 200 and not shown(login.text)
    await logged_in(client, tokens["shibalong-1"])
    for path in ("/", "/tickets/1", "/tickets/999"):
        page = await client.get(path, params=params)
        assert not shown(page.text), path
    if params.get("notice") != "claimed":
        assert 'role="status"' not in (await client.get("/tickets/1", params=params)).text


async def test_a_notice_key_shows_the_servers_words(world):  # noqa: F811
    app, client, tokens = world
    await logged_in(client, tokens["shibalong-1"])
    page = (await client.get("/tickets/1", params={"notice": "claimed"})).text
    assert f'<div class="flash " role="status">{texts.DASHBOARD_NOTICES["claimed"]}</div>' in page


async def test_a_refused_claim_shows_the_chats_reason_on_the_page(world):  # noqa: F811
    app, client, tokens = world
    # #1 is claimed already; the API gives the chat's reason as 409.
    refused = await client.post("/api/tickets/1/claim", headers=bearer(tokens["shibalong-1"]))
    assert refused.status_code == 409
    reason = refused.json()["detail"]
    await logged_in(client, tokens["shibalong-1"])
    form = await client.get("/tickets/2")
    page = await client.post("/tickets/1/claim", data={"csrftoken": token_in(form.text)})
    assert page.status_code == 409
    assert f'<div class="flash error" role="status">{reason}</div>' in page.text
    assert "处理记录" in page.text          # the ticket's page itself, not a redirect
