"""The rates (flows/figures.py) on a fixed set of tickets, each figure computed by hand; the same
figures through chat's `排名`, the monthly 通报 and the API."""

from __future__ import annotations

import io
import os
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from api.app import create_app
from api.rates import XLSX
from api.tokens import create_token
from bot.digest_runs import gather_digest
from bot.rate_reports import gather_figures, gather_month_report, gather_ranking
from bot.runtime import Bot
from bot.transports.simulator import Simulator
from bot.workbook import (CATEGORY_HEADER, HOT_SPOT_HEADER, RANKING_HEADER, SHEETS,
                          SUMMARY_HEADER, TICKET_HEADER)
from chat_script import chat, replies, say
from test_cli import CONFIG, gridbot
from flows.figures import (RateCounts, Weights, month_period, parse_month, percentile_of,
                           percentile_offset, rank_units, score)
from models.db import Database
from models.subtrees import sync_network
from models.tables import Ticket, TicketEscalation, TicketEvent

ZONE = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 10, 9, 0, tzinfo=ZONE)
ASOF = datetime(2026, 12, 1, 10, 0, tzinfo=ZONE)
NOVEMBER = month_period(date(2026, 11, 1), ZONE)
VILLAGE_HEAD, VILLAGE_ROOM = "wxid_li_wenhua", "baiyi@chatroom"


def ticket(number: int, node: str = "shibalong-1", created: datetime = T, *, claimed=None,
           resolved=None, status="closed", rating=None, deadline=None, parent=None,
           category="repair", building="4") -> dict:
    """A ticket row; `claimed` and `resolved` as time after `created`."""
    return dict(id=number, source_message_id=f"m{number}", group_room=f"{node}@chatroom",
                node_id=node, reporter_id=f"wxid_r{number}", reporter_name="王小明",
                text=f"第{number}件事", category=category, urgent=False, building=building,
                status=status, rating=rating, parent_id=parent, escalation_level=0,
                created_at=created.astimezone(timezone.utc),
                claimed_at=None if claimed is None else (created + claimed).astimezone(timezone.utc),
                resolved_at=None if resolved is None else (created + resolved).astimezone(timezone.utc),
                deadline_at=None if deadline is None else deadline.astimezone(timezone.utc))


H, D = timedelta(hours=1), timedelta(days=1)
TICKETS = [
    # 石坝垅 第一微网格 (第一党支部)
    ticket(1, claimed=30 * H / 60, resolved=D, rating="满意"),
    ticket(2, claimed=3 * H, resolved=2 * D, rating="基本满意"),             # claimed late
    ticket(3, claimed=H, resolved=7 * D, rating="满意", category="sanitation"),  # late, reopened
    ticket(4, claimed=20 * H / 60, status="claimed", rating="不满意",         # reopened, past due
           deadline=T + 5 * D),
    ticket(5, created=datetime(2026, 11, 30, 20, 0, tzinfo=ZONE), status="open",     # waiting past limit
           deadline=datetime(2026, 11, 30, 22, 0, tzinfo=ZONE), building="5"),
    ticket(6, created=datetime(2026, 11, 30, 23, 0, tzinfo=ZONE), status="open",     # not due yet
           deadline=datetime(2026, 12, 1, 12, 0, tzinfo=ZONE), building="5"),
    ticket(7, created=T + H, status="merged", parent=1),                              # a household joined
    ticket(8, status="cancelled"),                                            # withdrawn
    ticket(10, created=datetime(2026, 10, 10, 9, 0, tzinfo=ZONE), claimed=H / 6, resolved=H,
           rating="满意"),                                                    # October
    # 石坝垅 第二微网格 (第一党支部)
    ticket(9, "shibalong-2", claimed=H / 6, resolved=2 * H, status="resolved", building="6"),
    # 新村第一微网格 (第二党支部)
    ticket(11, "baiyi-b2-1", claimed=H, resolved=D, rating="满意", category="sanitation",
           building=None),
]
ESCALATIONS = [(2, "claim"), (3, "resolve")]
REOPENED = [3, 4]


def fill(db, network) -> None:
    sync_network(db, network, ASOF)
    with db.engine.begin() as connection:
        connection.execute(insert(Ticket.__table__), TICKETS)
        connection.execute(insert(TicketEscalation.__table__), [
            dict(ticket_id=number, level=1, round=0, cause=cause, at=T.astimezone(timezone.utc))
            for number, cause in ESCALATIONS])
        connection.execute(insert(TicketEvent.__table__), [
            dict(ticket_id=number, kind="reopened", actor_id="wxid_r", actor_name="王小明",
                 at=(T + 3 * D).astimezone(timezone.utc)) for number in REOPENED])


# By hand, for 第一党支部 in November: requests #1–#6 and #9 (7); #7 joined, #8 withdrawn, #10
# is October's, #11 another branch's.
BRANCH = RateCounts(
    requests=7, claim_due=6,          # #6 is still within its claim limit
    claimed=5, claimed_in_time=4,     # #2 escalated by the claim timer
    due=5,                            # #1 #2 #3 #9 resolved, #4 claimed past its deadline
    resolved=4, resolved_in_time=3,   # #3 escalated by the resolve timer
    ever_resolved=5, reopened=2,      # #3 (resolved again) and #4
    rated=4, satisfied=3, joined=1,
    claim_seconds=60 * (30 + 180 + 60 + 20 + 10),
    resolve_seconds=60 * (1440 + 2880 + 10080 + 120))


def test_every_rate_of_a_branch_by_hand(db, network):
    fill(db, network)
    with db.session() as session:
        figures = gather_figures(session, network, "baiyi-b1", NOVEMBER, ASOF)
    counts = figures.counts
    assert counts == BRANCH
    assert counts.response_rate == pytest.approx(4 / 6)
    assert counts.on_time_rate == pytest.approx(3 / 4)
    assert counts.resolution_rate == pytest.approx(4 / 5)
    assert counts.satisfaction_rate == pytest.approx(3 / 4)
    assert counts.reopen_rate == pytest.approx(2 / 5)
    assert counts.households == 8
    assert counts.average_claim == timedelta(minutes=60)
    assert counts.average_resolve == timedelta(minutes=3630)
    # Nearest rank: the 5th of 5 claim times, the 4th of 4 resolve times.
    assert figures.p90_claim == timedelta(hours=3)
    assert figures.p90_resolve == timedelta(days=7)


def test_a_micro_grid_and_a_day(db, network):
    fill(db, network)
    with db.session() as session:
        grid = gather_figures(session, network, "shibalong-2", NOVEMBER, ASOF).counts
        day = month_period(date(2026, 11, 30), ZONE)
        last_day = gather_figures(session, network, "shibalong-1",
                                  type(day)(datetime(2026, 11, 30, tzinfo=ZONE),
                                            datetime(2026, 12, 1, tzinfo=ZONE), "11月30日"),
                                  ASOF).counts
    assert (grid.requests, grid.resolved, grid.rated, grid.satisfaction_rate) == (1, 1, 0, None)
    assert (last_day.requests, last_day.claim_due, last_day.claimed_in_time) == (2, 1, 0)
    assert last_day.response_rate == 0.0


def test_the_ranking_of_a_village_with_the_month_before(db, config, network):
    fill(db, network)
    with db.session() as session:
        rows = gather_ranking(session, config, network, "baiyi", NOVEMBER, ASOF)
    first, second = rows
    # 第二党支部: one request, all on time, resolved, satisfied → 100.
    assert (first.node_id, first.place, first.score) == ("baiyi-b2", 1, pytest.approx(100))
    # 第一党支部: 10% × 4/6 + 45% × 4/5 + 45% × 3/4.
    assert (second.node_id, second.place) == ("baiyi-b1", 2)
    assert second.score == pytest.approx(100 * (0.1 * 4 / 6 + 0.45 * 0.8 + 0.45 * 0.75))
    # October: only #10 (第一党支部, perfect) → first then, 第二党支部 unranked.
    assert (second.previous_place, second.previous_score) == (1, pytest.approx(100))
    assert first.previous_place is None and first.change is None


def test_the_score_and_its_ties():
    weights = Weights(0.1, 0.45, 0.45)
    unrated = RateCounts(requests=2, claim_due=2, claimed_in_time=1, due=2, resolved=2)
    # No ratings: scored on the other two, their weights scaled up (10:45).
    assert score(unrated, weights) == pytest.approx(100 * (0.1 * 0.5 + 0.45 * 1) / 0.55)
    assert score(RateCounts(), weights) is None
    same = RateCounts(requests=1, claim_due=1, claimed_in_time=1, due=1, resolved=1)
    rows = rank_units({"a": same, "b": same, "c": unrated, "d": RateCounts()},
                      {"a": "甲", "b": "乙", "c": "丙", "d": "丁"}, weights)
    assert [(row.name, row.place) for row in rows] == [("乙", 1), ("甲", 1), ("丙", 3), ("丁", None)]
    assert percentile_offset(10) == 8 and percentile_offset(1) == 0 and percentile_offset(0) is None
    # Nearest rank over a histogram by minute: the 9th of ten values is in the 30-minute bucket.
    assert percentile_of({5: 4, 12: 4, 30: 1, 600: 1}) == timedelta(minutes=30)
    assert percentile_of({}) is None
    assert parse_month("2026-11") == date(2026, 11, 1) == parse_month("2026年11月")
    with pytest.raises(ValueError):
        parse_month("November")


def test_the_month_report_lists_categories_and_places(db, config, network):
    fill(db, network)
    with db.session() as session:
        report = gather_month_report(session, config, network, "baiyi", NOVEMBER, ASOF)
    assert report.categories == [("repair", 6), ("sanitation", 2)]
    assert [(spot.name, spot.requests) for spot in report.hot_spots] == [
        ("石坝垅小区第一微网格4号楼", 4), ("石坝垅小区第一微网格5号楼", 2),
        ("石坝垅小区第二微网格6号楼", 1)]
    assert report.previous is not None and report.previous.requests == 1


# -- through `gridbot chat` ---------------------------------------------------------------------

async def test_ranking_in_chat(db, config, network):
    fill(db, network)
    posts = await chat(db, config, [
        say("r1", VILLAGE_HEAD, "排名 上月", room=VILLAGE_ROOM, at="2026-12-01T10:00:00+08:00"),
        say("r2", VILLAGE_HEAD, "排名", room=VILLAGE_ROOM, at="2026-12-01T10:01:00+08:00"),
        say("r3", "wxid_qiu_huanwu", "排名", at="2026-12-01T10:02:00+08:00"),
        say("r4", VILLAGE_HEAD, "排名 去年", room=VILLAGE_ROOM, at="2026-12-01T10:03:00+08:00"),
        say("r5", "wxid_zhang", "排名", at="2026-12-01T10:04:00+08:00"),
    ])
    [last_month] = replies(posts, "r1")
    assert last_month.split("\n") == [
        "「百宜社区」2026年11月排名（得分＝响应率×10%＋解决率×45%＋满意率×45%）：",
        "1. 第二党支部 100.0分（响应率 100.0%，解决率 100.0%，满意率 100.0%，受理 1 件）",
        "2. 第一党支部 76.4分（响应率 66.7%，解决率 80.0%，满意率 75.0%，受理 7 件），"
        "较上期 -23.6分（上期第1名）",
    ]
    [this_month] = replies(posts, "r2")
    assert this_month.startswith("「百宜社区」2026年12月排名") and "本期无诉求" in this_month
    assert replies(posts, "r3") == ["抱歉，排名比较的是下一级网格，只有微网格以上的网格长可以查看。"]
    assert replies(posts, "r4") == ["请说「排名」「排名 本月」或「排名 上月」。"]
    assert replies(posts, "r5") == ["抱歉，只有网格长可以查看排名。"]


async def test_the_monthly_report_goes_to_the_township_on_the_first(db, config, network):
    fill(db, network)
    # The shipped config: policy.ranking.reports, township, 09:00 on the 1st.
    posts = await chat(db, config, [{"tick": "2026-12-01T09:00:00+08:00"},
                                    {"tick": "2026-12-01T09:30:00+08:00"}])
    reports = [post for post in posts if "通报" in post["text"]]
    assert [post["room"] for post in reports] == ["jili@chatroom"]   # once per firing
    lines = reports[0]["text"].split("\n")
    assert lines[0] == "【集里街道2026年11月通报】"
    # The township: #1–#6, #9, #11 (8 requests); 9 households with #7.
    assert lines[1].startswith("受理 8 件（服务 9 户次）；响应率 71.4%，按期办结率 80.0%，"
                               "解决率 83.3%，满意率 80.0%，重办率 33.3%")
    assert lines[2] == "较上月：解决率 -16.7个百分点，满意率 -20.0个百分点。"
    assert lines[3] == "各单位排名："
    assert lines[4].startswith("1. 百宜社区 80.6分（响应率 71.4%，解决率 83.3%，满意率 80.0%，"
                               "受理 8 件），较上期 -19.4分（上期第1名）")
    assert lines[5] == "—. 荷花社区 本期无诉求"
    assert lines[6] == "诉求最多的类别：报修 6 件、环境卫生 2 件"
    assert lines[7].startswith("诉求最多的地点：石坝垅小区第一微网格4号楼 4 件")


# -- the digest, the API and the workbook: the same figures -------------------------------------

def test_the_digest_shows_the_rates_of_its_period(db, config, network):
    fill(db, network)
    with db.session() as session:
        [text] = gather_digest(session, config, network, network.node("baiyi-b1"),
                               NOVEMBER.start, NOVEMBER.end)
    assert "三率：响应率 66.7%，解决率 80.0%，满意率 75.0%（按本期受理的诉求）。" in text


@pytest.fixture
async def api(db, config, network):
    fill(db, network)
    simulator = Simulator(network, clock=lambda: ASOF)
    simulator.attach(Bot(config, db, simulator, network, clock=lambda: ASOF))
    tokens = {node: create_token(db, network, node, f"token of {node}", ASOF)
              for node in ("baiyi", "shibalong-1", "hehua")}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(simulator.bot)),
                               base_url="http://api")
    yield client, {node: {"Authorization": f"Bearer {token}"} for node, token in tokens.items()}
    await client.aclose()


async def test_the_api_gives_the_rates_per_period_scoped_by_the_token(api):
    client, headers = api
    answer = await client.get("/api/nodes/baiyi-b1/rates?month=2026-11", headers=headers["baiyi"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rates = body["rates"]
    assert (body["name"], body["period"], rates["requests"], rates["households"]) == \
        ("2026年11月", "month", 7, 8)
    assert rates["response_rate"] == pytest.approx(4 / 6)
    assert rates["resolution_rate"] == pytest.approx(0.8)
    assert (rates["on_time_rate"], rates["satisfaction_rate"], rates["reopen_rate"]) == \
        (0.75, 0.75, 0.4)
    assert (body["p90_claim_minutes"], body["p90_resolve_minutes"]) == (180, 7 * 1440)
    # 第二微网格 is scored on its two rates (no rating yet): 100; 第一: 10% × 3/5 + 45% × 3/4
    # + 45% × 3/4; 第三 had no request.
    assert [(unit["node_id"], unit["place"]) for unit in body["ranking"]] == [
        ("shibalong-2", 1), ("shibalong-1", 2), ("shibalong-3", None)]
    assert body["ranking"][1]["score"] == pytest.approx(73.5)
    # A day, a week, a range.
    day = (await client.get("/api/nodes/shibalong-1/rates?period=day&day=2026-11-30",
                            headers=headers["baiyi"])).json()
    week = (await client.get("/api/nodes/shibalong-1/rates?period=week&day=2026-11-12",
                             headers=headers["baiyi"])).json()
    assert (day["rates"]["requests"], week["rates"]["requests"]) == (2, 4)
    assert week["since"].startswith("2026-11-09")   # Monday
    ranged = (await client.get("/api/nodes/baiyi/rates?since=2026-11-01T00:00&until=2026-11-11T00:00",
                               headers=headers["baiyi"])).json()
    assert ranged["rates"]["requests"] == 6 and ranged["period"] == "range"   # #1–#4, #9, #11
    # The digest's figures carry the same rates.
    figures = (await client.get("/api/nodes/baiyi-b1/figures?since=2026-11-01T00:00"
                                "&until=2026-12-01T00:00", headers=headers["baiyi"])).json()
    assert figures["rates"]["requests"] == 7 and figures["rates"]["resolution_rate"] == 0.8
    # Scoped: 荷花社区's token does not see 百宜; bad months are 422.
    assert (await client.get("/api/nodes/baiyi-b1/rates", headers=headers["hehua"])).status_code == 404
    assert (await client.get("/api/nodes/baiyi/rates?month=soon",
                             headers=headers["baiyi"])).status_code == 422


async def test_the_workbook_holds_the_api_figures_masked_above_the_micro_grid(api):
    client, headers = api
    rates = (await client.get("/api/nodes/baiyi/rates?month=2026-11&top=100",
                              headers=headers["baiyi"])).json()
    answer = await client.get("/api/nodes/baiyi/report.xlsx?month=2026-11", headers=headers["baiyi"])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == list(SHEETS)
    summary = book["概况"]
    assert [cell.value for cell in summary[1]] == list(SUMMARY_HEADER)
    assert summary.freeze_panes == "A2" and summary.column_dimensions["C"].width == 60
    values = {row[0]: row[1] for row in summary.iter_rows(min_row=2, values_only=True)}
    assert values["受理件数"] == rates["rates"]["requests"] == 8
    for name, key in (("响应率", "response_rate"), ("解决率", "resolution_rate"),
                      ("满意率", "satisfaction_rate"), ("按期办结率", "on_time_rate"),
                      ("重办率", "reopen_rate")):
        assert values[name] == pytest.approx(rates["rates"][key])
    assert values["90%接单用时（分钟）"] == rates["p90_claim_minutes"]
    ranking = list(book["排名"].iter_rows(values_only=True))
    assert ranking[0] == RANKING_HEADER
    assert [(row[0], row[1], row[2]) for row in ranking[1:]] == [
        (unit["place"], unit["name"], None if unit["score"] is None else round(unit["score"], 1))
        for unit in rates["ranking"]]
    categories = list(book["类别"].iter_rows(values_only=True))
    assert categories[0] == CATEGORY_HEADER
    assert [(row[0], row[1]) for row in categories[1:]] == [("报修", 6), ("环境卫生", 2)]
    spots = list(book["热点"].iter_rows(values_only=True))
    assert spots[0] == HOT_SPOT_HEADER and spots[1][1:] == ("石坝垅小区第一微网格", "4号楼", 4)
    tickets = list(book["工单"].iter_rows(values_only=True))
    assert tickets[0] == TICKET_HEADER
    # Every ticket created in November in 百宜社区: #1–#9 and #11 (not October's #10).
    assert sorted(row[0] for row in tickets[1:]) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert {row[8] for row in tickets[1:]} == {"王*"}
    micro = await client.get("/api/nodes/shibalong-1/report.xlsx?month=2026-11",
                             headers=headers["shibalong-1"])
    rows = list(load_workbook(io.BytesIO(micro.content))["工单"].iter_rows(values_only=True))
    assert {row[8] for row in rows[1:]} == {"王小明"}
    assert (await client.get("/api/nodes/baiyi/report.xlsx",
                             headers=headers["hehua"])).status_code == 404


def test_gridbot_report_prints_the_report_and_writes_the_workbook(tmp_path, config, network):
    db = Database(f"sqlite:///{tmp_path / 'report.sqlite3'}")
    fill(db, network)
    db.dispose()
    url = f"sqlite:///{tmp_path / 'report.sqlite3'}"
    shown = gridbot("report", "--node", "jili", "--month", "2026-11", "--config", CONFIG, "--db", url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("【集里街道2026年11月通报】\n受理 8 件（服务 9 户次）")
    target = tmp_path / "report.xlsx"
    written = gridbot("report", "--node", "baiyi", "--month", "2026-11", "--xlsx", str(target),
                      "--config", CONFIG, "--db", url)
    assert written.returncode == 0, written.stderr
    book = load_workbook(target)
    assert book.sheetnames == list(SHEETS) and book["工单"].max_row == 11
    bad = gridbot("report", "--node", "baiyi", "--month", "November", "--config", CONFIG, "--db", url)
    assert bad.returncode == 2 and "--month" in bad.stderr


def sheets_of(target) -> dict[str, list[tuple]]:
    book = load_workbook(target)
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def test_the_report_gathered_in_a_forked_process_writes_the_same_workbook(db, config, network,
                                                                          monkeypatch):
    from bot import workbook

    fill(db, network)
    assert workbook.can_fork(db)   # a test runs one thread, as the command does
    with db.session() as session:
        session.connection()   # but not while a connection is open
        assert not workbook.can_fork(db)

    def write() -> dict[str, list[tuple]]:
        target = io.BytesIO()
        written = workbook.write_report_workbook(target, db, config, network, "baiyi", NOVEMBER,
                                                 ASOF, masked=True)
        assert written == 10
        return sheets_of(target)

    forked = write()
    monkeypatch.setattr(workbook, "can_fork", lambda database: False)
    in_a_thread = write()
    assert forked == in_a_thread
    assert forked["概况"][1][:2] == ("受理件数", 8) and len(forked["工单"]) == 11
    # The parent's connections still work after the fork (it closed its pool before).
    with db.session() as session:
        assert gather_figures(session, network, "baiyi", NOVEMBER, ASOF).counts.requests == 8


def test_an_error_in_the_report_worker_reaches_the_command(db, config, network, monkeypatch):
    from bot import workbook

    fill(db, network)

    def failing(*arguments, **options):
        raise LookupError(os.getpid())

    monkeypatch.setattr(workbook, "gather_month_report", failing)
    with pytest.raises(LookupError) as raised:
        workbook.write_report_workbook(io.BytesIO(), db, config, network, "baiyi", NOVEMBER,
                                       ASOF, masked=True)
    assert raised.value.args[0] != os.getpid()   # raised in the worker, brought back
    # A worker that dies without an answer is an error too, not a wait forever.
    monkeypatch.setattr(workbook, "gather_month_report", lambda *a, **o: os._exit(3))
    with pytest.raises(RuntimeError, match="exit code 3"):
        workbook.write_report_workbook(io.BytesIO(), db, config, network, "baiyi", NOVEMBER,
                                       ASOF, masked=True)


def test_a_long_tickets_sheet_is_cut_and_says_how_many_more(db, config, network, monkeypatch):
    from bot import workbook

    fill(db, network)
    monkeypatch.setattr(workbook, "MAX_TICKET_ROWS", 3)
    target, seen = io.BytesIO(), []
    with db.session() as session:
        report = gather_month_report(session, config, network, "baiyi", NOVEMBER, ASOF, None)
        written = workbook.write_workbook(target, session, network, "baiyi", NOVEMBER, report,
                                          ZONE, masked=True, progress=lambda *step: seen.append(step))
    rows = list(load_workbook(target)["工单"].iter_rows(values_only=True))
    assert written == 3 and [row[0] for row in rows[1:4]] == [1, 2, 3]
    assert rows[4][0] == "……另有 7 张未列出，全部工单可用 gridbot tickets export 导出。"
    assert seen == [(3, 3)]
