"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright): log in,
see a ticket created through chat, claim it from the page, see the notice posted in the group;
and the same pages on a phone's screen (390×844), where they must fit without sideways scrolling
and keep every column readable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from api.app import create_app
from api.tokens import create_token

from conftest import START
from local_server import ServedApp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GRID, HEAD, RESIDENT = "shibalong-1@chatroom", "wxid_qiu_huanwu", "wxid_resident_zhang"
# Where the screenshot goes: $GRIDBOT_ARTIFACTS, else the test's temporary folder.
ARTIFACTS_ENV = "GRIDBOT_ARTIFACTS"

if CHROMIUM is None:
    message = "Chromium is not installed (apt-get install chromium) — .ci/run installs it"
    if os.environ.get("GRIDBOT_REQUIRE_BROWSER"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402 - only with a browser present

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}

# The number of lines a cell's own text takes on screen (its label, a ::before, is not counted):
# the distinct tops of its text's line boxes, within a few pixels.
LINES_OF = """cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top)
        .sort((a, b) => a - b);
    return tops.filter((top, i) => i === 0 || top - tops[i - 1] > 4).length;
}"""
# The width of a cell's own text (px).
TEXT_WIDTH = """cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return range.getBoundingClientRect().width;
}"""
PAGE_WIDTH = "document.documentElement.scrollWidth"


async def test_log_in_see_a_chat_ticket_claim_it_and_the_group_hears(sim, db, network, clock,
                                                                     tmp_path):
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    await sim.say(GRID, RESIDENT, "下单 7栋电梯困人了，快来人", name="李大爷")
    clock.advance(hours=3)  # #1 is now past its 2-hour claim timer
    token = create_token(db, network, "shibalong-1", "邱煥武（后台）", START)
    artifacts = Path(os.environ.get(ARTIFACTS_ENV) or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)

    with ServedApp(create_app(sim.bot)) as base:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1100, "height": 800})
            await page.goto(base + "/")
            await page.fill("#token", "gb_wrong")
            await page.click("button[type=submit]")
            assert "令牌无效" in await page.text_content("[role=status]")

            await page.fill("#token", token)
            await page.click("button[type=submit]")
            await page.wait_for_selector("text=待办 2 张")
            row = page.locator("tr", has_text="#1")
            assert "overdue" in (await row.get_attribute("class"))          # red: past its timer
            assert "4号楼2单元4楼" in await row.text_content()
            urgent_table = page.locator("h2:has-text('紧急') + table")
            assert "#2" in await urgent_table.text_content()
            assert await page.locator("svg[role=img]").count() == 1          # the chart
            await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

            await page.click("a:text('#1')")
            await page.wait_for_selector("text=处理记录")
            assert await page.text_content("#status") == "待接单"
            await page.click("button:text('接单')")
            await page.wait_for_selector("text=已接单，通知已发到群里。")
            assert await page.text_content("#status") == "处理中"
            assert "接单" in await page.locator("table").last.text_content()
            await page.screenshot(path=str(artifacts / "ticket.png"), full_page=True)
            await browser.close()

    notice = [p for p in sim.posts if p.text == "#1 已由 邱煥武（后台） 接单，正在处理。"]
    assert len(notice) == 1 and notice[0].room == GRID and notice[0].mentions == (RESIDENT,)


async def test_on_a_phone_the_pages_fit_and_every_column_stays_readable(sim, db, network, clock,
                                                                       tmp_path):
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮，晚上楼道一片漆黑，老人上下楼很危险，"
                                  "麻烦尽快来修，电话13812345678", name="张阿姨")
    await sim.say(GRID, RESIDENT, "下单 7栋电梯困人了，快来人", name="李大爷")
    await sim.say(GRID, HEAD, "接单 #2")
    await sim.say(GRID, HEAD, "进展 #2 已联系电梯维保公司，师傅二十分钟内到场处理")
    clock.advance(hours=3)
    token = create_token(db, network, "shibalong-1", "邱煥武（手机）", START)
    artifacts = Path(os.environ.get(ARTIFACTS_ENV) or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)

    with ServedApp(create_app(sim.bot)) as base:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                          has_touch=True)
            await page.goto(base + "/")
            assert await page.evaluate(PAGE_WIDTH) <= PHONE["width"]
            await page.fill("#token", token)
            await page.click("button[type=submit]")
            await page.wait_for_selector("text=待办 2 张")
            assert await page.evaluate(PAGE_WIDTH) <= PHONE["width"]     # no sideways scrolling
            for number in (1, 2):
                row = page.locator("tr", has_text=f"#{number}")
                for label in ("单号", "类别", "位置", "状态", "所在", "已等"):
                    cell = row.locator(f"td[data-label={label}]")
                    assert await cell.evaluate(LINES_OF) <= 2, (number, label)
            # The long description runs in lines of many characters, not a column of one.
            description = page.locator("tr", has_text="#1").locator("td[data-label=内容]")
            assert await description.evaluate(TEXT_WIDTH) >= 200
            chart = page.locator("svg[role=img]")
            assert (await chart.bounding_box())["width"] <= PHONE["width"]
            await page.screenshot(path=str(artifacts / "dashboard-phone.png"), full_page=True)

            await page.click("a:text('#2')")
            await page.wait_for_selector("text=处理记录")
            assert await page.evaluate(PAGE_WIDTH) <= PHONE["width"]
            rows = page.locator("table tbody tr")
            assert await rows.count() == 3   # 下单, 接单, 进展
            for index in range(3):
                for label in ("时间", "事项", "人员"):
                    cell = rows.nth(index).locator(f"td[data-label={label}]")
                    assert await cell.evaluate(LINES_OF) <= 2, (index, label)
            note = rows.nth(2).locator("td[data-label=说明]")
            assert await note.evaluate(TEXT_WIDTH) >= 200
            await page.screenshot(path=str(artifacts / "ticket-phone.png"), full_page=True)
            await browser.close()


async def test_the_ticket_page_shows_its_photo_and_plays_its_voice(config, network, db, clock,
                                                                  tmp_path):
    from bot.runtime import Bot
    from bot.transport import Media
    from bot.transports.simulator import Simulator
    from flows.config import MediaConfig
    from test_attachments import PHOTO, VOICE, png

    kept = config.model_copy(update={"media": MediaConfig(folder=str(tmp_path / "media"))})
    sim = Simulator(network, clock=clock)
    sim.attach(Bot(kept, db, sim, network, clock=clock))
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    clock.advance(minutes=1)
    picture = png(40, 30, (220, 40, 40))
    await sim.say(GRID, RESIDENT, "", media=(Media("image", data=picture),))
    await sim.say(GRID, RESIDENT, "", media=(Media("voice", data=VOICE, duration_s=3),))
    await sim.say(GRID, "wxid_stranger", "", media=(Media("image", data=PHOTO),))  # unattached
    token = create_token(db, network, "shibalong-1", "邱煥武（后台）", START)
    other = create_token(db, network, "hehua", "荷花社区（后台）", START)
    artifacts = Path(os.environ.get(ARTIFACTS_ENV) or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)

    with ServedApp(create_app(sim.bot)) as base:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1100, "height": 800})
            await page.goto(base + "/")
            await page.fill("#token", token)
            await page.click("button[type=submit]")
            await page.goto(base + "/tickets/1")
            await page.wait_for_selector("text=附件")
            image = page.locator("ul.media img")
            await image.wait_for()
            # Drawn: the browser decoded the picture the resident sent (40×30).
            assert await image.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]") == \
                [True, 40, 30]
            audio = page.locator("ul.media audio")
            assert await audio.count() == 1
            source = await audio.get_attribute("src")
            served = await page.request.get(base + source)
            assert served.status == 200 and await served.body() == VOICE
            assert served.headers["content-type"] == "audio/amr"
            await page.screenshot(path=str(artifacts / "ticket_media.png"), full_page=True)
            # Another community's login: the same address is not found.
            await page.context.clear_cookies()
            await page.goto(base + "/")
            await page.fill("#token", other)
            await page.click("button[type=submit]")
            foreign = await page.request.get(base + "/attachments/1")
            assert foreign.status == 404
            await browser.close()
