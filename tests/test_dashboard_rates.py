"""The dashboard's 考核 page in a real headless Chromium (Debian's package): the rates of the
fixed tickets of tests/test_figures_rates.py, the ranking, the trend per day, the hot spots and
the Excel button, on a desktop and on a phone's screen (390×844) without sideways scrolling."""

from __future__ import annotations

import io
import os
from pathlib import Path

from openpyxl import load_workbook

from api.app import create_app
from api.tokens import create_token
from bot.runtime import Bot
from bot.transports.simulator import Simulator
from bot.workbook import SHEETS
from local_server import ServedApp
from test_dashboard import (ARTIFACTS_ENV, CHROMIUM, CHROMIUM_ARGS, PAGE_WIDTH, PHONE,
                            async_playwright)
from test_figures_rates import ASOF, fill


async def test_the_rates_page_on_a_desktop_and_a_phone(db, config, network, tmp_path):
    artifacts = Path(os.environ.get(ARTIFACTS_ENV) or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    fill(db, network)
    simulator = Simulator(network, clock=lambda: ASOF)
    simulator.attach(Bot(config, db, simulator, network, clock=lambda: ASOF))
    token = create_token(db, network, "baiyi", "李文华", ASOF)
    with ServedApp(create_app(simulator.bot)) as base:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS)
            for viewport in ({"width": 1100, "height": 800}, PHONE):
                page = await browser.new_page(viewport=viewport)
                await page.goto(base + "/")
                await page.fill("#token", token)
                await page.click("button[type=submit]")
                await page.click("text=考核与排名")
                await page.wait_for_selector("h1")
                await page.goto(base + "/rates?month=2026-11&days=30")
                assert await page.inner_text("h1") == "百宜社区：2026年11月考核"
                figure = page.locator(".figure[data-name=响应率] strong")
                assert await figure.inner_text() == "71.4%"
                assert await page.locator(".figure[data-name=解决率] strong").inner_text() == "83.3%"
                rows = page.locator("table.ranking tbody tr")
                assert await rows.count() == 2
                first = rows.nth(0)
                assert await first.locator("td[data-label=单位]").inner_text() == "第二党支部"
                assert await rows.nth(1).locator("td[data-label=得分]").inner_text() == "76.4"
                # The trend: 30 days ending today (12-01); 11-10 had six requests and one
                # resolution, 11-11 two resolutions.
                days = page.locator("svg.trend g[data-day]")
                assert await days.count() == 30
                day = page.locator("svg.trend g[data-day='2026-11-10']")
                assert (await day.get_attribute("data-new"),
                        await day.get_attribute("data-resolved")) == ("6", "1")
                assert await page.locator("svg.trend g[data-day='2026-11-11']") \
                    .get_attribute("data-resolved") == "2"
                assert await page.locator("g[data-key=repair]").get_attribute("data-count") == "6"
                assert "石坝垅小区第一微网格4号楼：4 件" in await page.inner_text("ol.hot-spots")
                assert await page.evaluate(PAGE_WIDTH) <= viewport["width"]
                await page.screenshot(path=str(artifacts / f"rates-{viewport['width']}.png"),
                                      full_page=True)
                chart = page.locator("svg.trend")
                assert (await chart.bounding_box())["width"] <= viewport["width"]
                await page.goto(base + "/rates?days=90")
                assert await page.locator("svg.trend g[data-day]").count() == 90
                assert await page.evaluate(PAGE_WIDTH) <= viewport["width"]
                # The Excel button, with the page's login.
                href = await page.goto(base + "/rates?month=2026-11") and \
                    await page.get_attribute("a.button", "href")
                answer = await page.request.get(base + href)
                assert answer.ok
                book = load_workbook(io.BytesIO(await answer.body()))
                assert book.sheetnames == list(SHEETS)
                assert {row[8] for row in book["工单"].iter_rows(min_row=2, values_only=True)} \
                    == {"王*"}
                await page.close()
            await browser.close()
