"""Grid-office practice beyond chat: deadlines in the calendar's terms (digest lines, dashboard),
延期 answered through the API or granted automatically, stand-ins set through the API, and the
figures counting extensions."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlmodel import select

from api.app import create_app
from api.tokens import create_token
from chat_script import chat, replies, say
from conftest import REPO, START
from flows import texts
from flows.config import ConfigError, parse_config
from flows.deadlines import deadline_text
from flows.working_time import WorkCalendar, WorkingTime
from models.tables import TicketEvent

ZONE = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar(ZONE)
GRID, BRANCH = "shibalong-1@chatroom", "baiyi-b1@chatroom"
HEAD, BRANCH_HEAD, DEPUTY = "wxid_qiu_huanwu", "wxid_wang_guoqiang", "wxid_zhou_min"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


# ---- deadlines in the calendar's terms ------------------------------------------------------------

def test_a_deadline_in_working_days_says_the_working_days_left():
    # Monday 13:00 to Tuesday 17:30: 4.5 + 9 office hours, a day and a half.
    assert deadline_text(at("2026-12-01T17:30"), at("2026-11-30T13:00"), WorkingTime(days=2),
                         CALENDAR, ZONE) == "限 12-01 周二 17:30 前，剩 1.5 个工作日"
    # Over a weekend only office hours count: Friday 10:00 to Monday 10:00 is one working day.
    assert deadline_text(at("2026-12-07T10:00"), at("2026-12-04T10:00"), WorkingTime(days=3),
                         CALENDAR, ZONE) == "限 12-07 周一 10:00 前，剩 1 个工作日"


def test_an_overdue_working_hours_limit_says_the_working_hours_past():
    # Friday 16:30 deadline, Monday 10:30: an hour on Friday, two on Monday.
    assert deadline_text(at("2026-12-04T16:30"), at("2026-12-07T10:30"), WorkingTime(hours=4),
                         CALENDAR, ZONE) == "限 12-04 周五 16:30 前，已超 3 工作小时"


def test_a_wall_clock_limit_says_hours_and_minutes():
    now = at("2026-12-01T09:00")
    assert deadline_text(now + timedelta(hours=1, minutes=20), now, timedelta(minutes=10),
                         CALENDAR, ZONE) == "限 12-01 周二 10:20 前，剩 1小时20分钟"
    assert deadline_text(now - timedelta(hours=2), now, timedelta(hours=2),
                         CALENDAR, ZONE) == "限 12-01 周二 07:00 前，已超 2小时"
    assert deadline_text(now - timedelta(days=2, hours=3, minutes=5), now, timedelta(hours=2),
                         CALENDAR, ZONE).endswith("已超 2天3小时")


def test_working_time_between_two_moments():
    assert CALENDAR.working_between(at("2026-12-04T16:30"), at("2026-12-07T10:30")) == timedelta(hours=3)
    assert CALENDAR.working_between(at("2026-12-07T10:30"), at("2026-12-04T16:30")) == timedelta(0)
    assert CALENDAR.day_length == timedelta(hours=9)


def working_config(**extensions):
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["policy"]["timers"] = {"normal": {"claim_within": "1wd", "resolve_within": "2wd"}}
    data["policy"].pop("quiet_hours", None)
    data["policy"]["digests"] = [{"level": "branch", "cron": "0 18 * * *", "to": "group"}]
    if extensions:
        data["policy"]["extensions"] = extensions
    return parse_config(data)


async def test_the_digest_lists_an_overdue_ticket_with_its_working_time_past(db):
    posts = await chat(db, working_config(), [
        say("s1", "wxid_zhang", "下单 4栋2单元楼道灯不亮", "张阿姨", room=GRID,
            at="2026-11-30T09:00:00+08:00"),                  # Monday: claim within 1 working day
        {"tick": "2026-12-01T18:01:00+08:00"},                 # Tuesday's 18:00 digest
    ])
    [digest] = [p["text"] for p in posts if p["room"] == BRANCH and "工作简报" in p["text"]]
    # Due Tuesday 09:00; by 18:00 8.5 office hours have passed (escalated to the branch, too).
    assert "4栋2单元楼道灯不亮（张*） 限 12-01 周二 09:00 前，已超 8.5 工作小时" in digest


# ---- the API: 延期 answered by a head above, the dashboard's deadlines, figures ---------------------

@pytest.fixture
async def office(sim, db, network, clock):
    """#1 claimed by the grid head, who asks for 2 more days; tokens and a client."""
    await sim.say(GRID, "wxid_resident", "下单 4号楼二单元4楼的灯不亮", name="王小明")
    clock.advance(minutes=30)
    await sim.say(GRID, HEAD, "接单 #1")
    clock.advance(minutes=1)
    await sim.say(GRID, HEAD, "延期 #1 2天 等配件")
    tokens = {node: create_token(db, network, node, f"token of {node}", START)
              for node in ("baiyi", "baiyi-b1", "shibalong-1", "hehua-b1")}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim.bot)),
                               base_url="http://api")
    yield client, tokens
    await client.aclose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_a_head_above_grants_an_extension_through_the_api(office, sim):
    client, tokens = office
    before = (await client.get("/api/tickets/1", headers=bearer(tokens["baiyi-b1"]))).json()
    # The grid's own token is no head above it: the chat's refusal; another branch: 404.
    own = await client.post("/api/tickets/1/extension/grant", headers=bearer(tokens["shibalong-1"]))
    assert own.status_code == 409
    assert own.json()["detail"] == texts.NOT_SUPERIOR.format(number=1, action="批准延期")
    foreign = await client.post("/api/tickets/1/extension/grant", headers=bearer(tokens["hehua-b1"]))
    assert foreign.status_code == 404
    granted = await client.post("/api/tickets/1/extension/grant", headers=bearer(tokens["baiyi-b1"]))
    assert granted.status_code == 200
    old, new = (datetime.fromisoformat(t["deadline_at"]) for t in (before, granted.json()))
    assert new - old == timedelta(days=2)
    assert sim.posts[-1].room == GRID and sim.posts[-1].text.startswith("#1 延期已同意（2天），新期限")
    events = (await client.get("/api/tickets/1", headers=bearer(tokens["baiyi-b1"]))).json()["events"]
    assert (events[-1]["kind"], events[-1]["actor_name"]) == ("extension_granted", "token of baiyi-b1")
    again = await client.post("/api/tickets/1/extension/grant", headers=bearer(tokens["baiyi"]))
    assert again.status_code == 409 and again.json()["detail"] == "#1 没有待批复的延期申请。"
    period = {"until": (START + timedelta(days=1)).isoformat()}
    figures = (await client.get("/api/nodes/baiyi-b1/figures", params=period,
                                headers=bearer(tokens["baiyi-b1"]))).json()
    assert figures["extensions"] == 1 and figures["departments_late"] == 0


async def test_a_head_above_refuses_an_extension_with_a_reason(office, sim):
    client, tokens = office
    village = bearer(tokens["baiyi"])
    bare = await client.post("/api/tickets/1/extension/refuse", headers=village, json={})
    assert bare.status_code == 409
    assert bare.json()["detail"] == texts.REASON_NEEDED.format(example=texts.EXAMPLES["不同意延期"])
    refused = await client.post("/api/tickets/1/extension/refuse", headers=village,
                                json={"reason": "先临时处理"})
    assert refused.status_code == 200
    assert sim.posts[-1].room == GRID and sim.posts[-1].text.startswith("#1 延期未同意：先临时处理。")
    figures = (await client.get("/api/nodes/baiyi/figures", headers=village,
                                params={"until": (START + timedelta(days=1)).isoformat()})).json()
    assert figures["extensions"] == 0


async def test_the_dashboard_shows_each_deadline(office, clock):
    client, tokens = office
    client.cookies.set("gridbot_token", tokens["shibalong-1"])
    home = (await client.get("/")).text
    # Asked for Tuesday 09:00, 5 days on the wall clock from then; read at 09:31.
    assert '<td class="deadline" data-label="期限">限 11-29 周日 09:00 前，剩 4天23小时</td>' in home
    page = (await client.get("/tickets/1")).text
    assert '<span id="deadline">限 11-29 周日 09:00 前，剩 4天23小时</span>' in page


# ---- automatic grant --------------------------------------------------------------------------------

async def test_a_short_extension_is_granted_at_once_by_the_bot(db):
    conversation = [
        say("s1", "wxid_zhang", "下单 4栋2单元楼道灯不亮", "张阿姨", room=GRID,
            at="2026-11-30T09:00:00+08:00"),
        say("s2", HEAD, "接单 #1", "邱煥武", room=GRID, at="2026-11-30T09:10:00+08:00"),
        say("s3", HEAD, "延期 #1 1工作日 等配件", "邱煥武", room=GRID, at="2026-11-30T10:00:00+08:00"),
        say("s4", HEAD, "延期 #1 2工作日 还要等", "邱煥武", room=GRID, at="2026-11-30T10:05:00+08:00"),
        say("s5", HEAD, "延期 #1 1工作日 再等", "邱煥武", room=GRID, at="2026-11-30T10:10:00+08:00"),
        {"tick": "2026-11-30T18:01:00+08:00"},
    ]
    posts = await chat(db, working_config(auto_grant_up_to="1wd", max_per_ticket=2), conversation)
    # Due Wednesday 09:00 (2 working days from the request); one more: Thursday 09:00.
    assert replies(posts, "s3") == [
        "#1 申请延期 1个工作日：等配件（不超过 1个工作日，自动同意），新期限 12-03 09:00。"]
    assert not any(p["room"] == BRANCH for p in posts if p["reply_to"] == "s3")
    # Longer than that: the head above is asked, as without the key.
    [asked] = [p for p in posts if p["reply_to"] == "s4" and p["room"] == BRANCH]
    assert asked["mentions"] == [BRANCH_HEAD] and "申请延期 2个工作日" in asked["text"]
    assert replies(posts, "s5") == ["#1 已有一个延期申请在等上级批复。"]
    [digest] = [p["text"] for p in posts if p["room"] == BRANCH and "工作简报" in p["text"]]
    assert "同意延期 1 次" in digest
    with db.session() as session:
        granted = session.exec(select(TicketEvent).where(
            TicketEvent.kind == "extension_granted")).all()
    assert [(e.actor_name, e.note) for e in granted] == [
        (texts.BOT_NAME, "1wd → 12-03 09:00（自动同意）")]


async def test_an_automatic_grant_counts_against_the_most_per_ticket(db):
    posts = await chat(db, working_config(auto_grant_up_to="4h", max_per_ticket=1), [
        say("s1", "wxid_zhang", "下单 4栋2单元楼道灯不亮", "张阿姨", room=GRID,
            at="2026-11-30T09:00:00+08:00"),
        say("s2", HEAD, "接单 #1", "邱煥武", room=GRID, at="2026-11-30T09:10:00+08:00"),
        say("s3", HEAD, "延期 #1 2小时 等配件", "邱煥武", room=GRID, at="2026-11-30T10:00:00+08:00"),
        say("s4", HEAD, "延期 #1 1小时 再等", "邱煥武", room=GRID, at="2026-11-30T10:05:00+08:00"),
    ])
    assert replies(posts, "s3")[0].endswith("（不超过 4小时，自动同意），新期限 12-02 11:00。")
    assert replies(posts, "s4") == ["#1 已延期 1 次，不能再申请延期。"]


def test_the_config_check_refuses_a_bad_automatic_grant():
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    for bad in ("soon", "0wd", -3):
        data["policy"]["extensions"] = {"auto_grant_up_to": bad}
        with pytest.raises(ConfigError) as caught:
            parse_config(data)
        assert any(problem.startswith("policy.extensions.auto_grant_up_to: ")
                   for problem in caught.value.problems), caught.value.problems
    data["policy"]["extensions"] = {"auto_grant_up_to": "1wd"}
    assert parse_config(data).policy.extensions.auto_grant_up_to == WorkingTime(days=1)


# ---- stand-ins through the API ----------------------------------------------------------------------

async def test_an_operator_sets_lists_and_ends_a_leave(office, sim, clock):
    client, tokens = office
    branch, grid = bearer(tokens["baiyi-b1"]), bearer(tokens["shibalong-1"])
    leave = {"member_id": BRANCH_HEAD, "stand_in": DEPUTY, "until": "2026-11-26"}
    # The grid's token is below the branch head's node; another branch's sees nothing of it.
    assert (await client.post("/api/stand-ins", headers=grid, json=leave)).status_code == 404
    assert (await client.post("/api/stand-ins", headers=bearer(tokens["hehua-b1"]),
                              json=leave)).status_code == 404
    # The chat's refusal, and bad values.
    own = await client.post("/api/stand-ins", headers=branch, json={**leave, "stand_in": BRANCH_HEAD})
    assert own.status_code == 409 and own.json()["detail"] == texts.LEAVE_SELF
    for bad in ({"until": "next week"}, {"until": "2026-11-20"}, {"until": "2026-11-26T12:00"},
                {"stand_in": "wxid_nobody"}):
        assert (await client.post("/api/stand-ins", headers=branch,
                                  json={**leave, **bad})).status_code == 422, bad
    made = await client.post("/api/stand-ins", headers=branch, json=leave)
    assert made.status_code == 201
    shown = made.json()
    assert (shown["member_name"], shown["stand_in_name"], shown["active"]) == ("王国强", "周敏", True)
    assert datetime.fromisoformat(shown["until"]) == datetime(2026, 11, 27, tzinfo=ZONE)
    told = sim.posts[-1]
    assert told.room == BRANCH and told.mentions == (DEPUTY,) and "王国强 请假至 11月26日" in told.text
    # While it runs, what is sent to the head goes to the stand-in too (the escalation of #2).
    await sim.say(GRID, "wxid_resident", "下单 2号楼302室门口有人打架", name="王小明")
    clock.advance(minutes=11)
    await sim.bot.tick(clock())
    [whistle] = [p for p in sim.posts if p.text.startswith("【吹哨】#2")]
    assert whistle.room == BRANCH and set(whistle.mentions) == {BRANCH_HEAD, DEPUTY}
    listed = (await client.get("/api/stand-ins", headers=branch)).json()
    assert [row["id"] for row in listed] == [shown["id"]]
    assert (await client.get("/api/stand-ins", headers=grid)).json() == []
    assert (await client.delete(f"/api/stand-ins/{shown['id']}", headers=grid)).status_code == 404
    ended = await client.delete(f"/api/stand-ins/{shown['id']}", headers=bearer(tokens["baiyi"]))
    assert ended.status_code == 204
    assert sim.posts[-1].text == texts.LEAVE_ENDED.format(head="王国强")
    again = await client.delete(f"/api/stand-ins/{shown['id']}", headers=branch)
    assert again.status_code == 409 and again.json()["detail"] == texts.LEAVE_NOT_RUNNING
    [row] = (await client.get("/api/stand-ins", headers=branch)).json()
    assert row["active"] is False and row["ended_at"] is not None
