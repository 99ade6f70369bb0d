"""Digests for officials (design §7): each mask, each field, splitting, and the schedule driven
by the clock through the simulator and `gridbot chat`."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.digest_runs import send_due_digests
from bot.runtime import Bot
from bot.transports.simulator import Simulator
from flows import texts
from flows.config import DigestSchedule
from flows.digests import DigestFigures, compose_digest
from models.tables import DigestRun, Ticket

from conftest import START
from test_cli import CONFIG, gridbot, jsonl

ZONE = ZoneInfo("Asia/Shanghai")
GRID, BRANCH = "shibalong-1@chatroom", "baiyi-b1@chatroom"
HEAD, BRANCH_HEAD, VILLAGE_HEAD = "wxid_qiu_huanwu", "wxid_wang_guoqiang", "wxid_li_wenhua"
RESIDENT = "wxid_resident_zhang"


# -- the text -----------------------------------------------------------------------------------

def a_ticket(**fields) -> Ticket:
    values = dict(id=7, source_message_id="m7", group_room=GRID, node_id="shibalong-1",
                  reporter_id=RESIDENT, reporter_name="王小明",
                  text="2-1-302 厨房漏水，电话13812345678", category="repair", urgent=True,
                  building="2", unit="1", floor="3", room="302", status="open",
                  created_at=START)
    return Ticket(**{**values, **fields})


FIGURES = DigestFigures(new=5, claimed=4, resolved=3, overdue=1,
                        average_claim=timedelta(minutes=30), average_resolve=timedelta(hours=4),
                        ratings={"满意": 2, "基本满意": 1, "不满意": 1})


def test_every_field_of_a_digest():
    [text] = compose_digest("第一党支部", START, START + timedelta(days=1), ZONE, FIGURES,
                            escalated=[a_ticket()], overdue=[a_ticket(id=8, urgent=False)],
                            masked=False)
    lines = text.split("\n")
    assert lines[0] == "【第一党支部工作简报】11-24 09:00 至 11-25 09:00"
    assert lines[1] == ("新增 5 张，接单 4 张，办结 3 张，超期未办 1 张；"
                        "平均接单用时 30分钟，平均办结用时 4小时。")
    assert lines[2] == "评价：满意 2，基本满意 1，不满意 1。"
    assert lines[3] == "吹哨到本级 1 张："
    assert lines[4] == "#7【紧急】【报修】待接单 2号楼1单元302室 2-1-302 厨房漏水，电话13812345678（王小明）"
    assert lines[5] == "超期 1 张："
    assert lines[6].startswith("#8【报修】待接单")


def test_above_the_micro_grid_the_digest_is_masked():
    [text] = compose_digest("百宜社区", START, START + timedelta(days=1), ZONE, FIGURES,
                            escalated=[a_ticket()], overdue=[], masked=True)
    line = text.split("\n")[4]
    assert line == "#7【紧急】【报修】待接单 2号楼1单元3楼 2-1-*** 厨房漏水，电话138****5678（王*）"
    assert "王小明" not in text and "13812345678" not in text and "302" not in text


def test_empty_sections_and_no_averages():
    [text] = compose_digest("第一党支部", START, START, ZONE, DigestFigures(), [], [], masked=True)
    assert "平均接单用时 —，平均办结用时 —" in text
    assert text.count(texts.DIGEST_NONE) == 2


def test_a_long_digest_is_split_into_marked_messages_that_each_fit():
    many = [a_ticket(id=n, text=f"第{n}件事" + "很长的描述" * 5) for n in range(1, 16)]
    parts = compose_digest("集里街道", START, START, ZONE, FIGURES, many, many, masked=True,
                           limit=300)
    assert len(parts) > 1 and all(len(part) <= 300 for part in parts)
    assert parts[1].startswith(texts.DIGEST_CONTINUED.format(part=2, parts=len(parts)))
    shown = "\n".join(parts)
    assert shown.count("#15【") == 2 and "【集里街道工作简报】" in parts[0]


def test_only_the_first_tickets_are_listed_and_the_rest_counted():
    many = [a_ticket(id=n) for n in range(1, 26)]
    parts = compose_digest("集里街道", START, START, ZONE, FIGURES, [], many, masked=True,
                           listed=20)
    shown = "\n".join(parts)
    assert shown.count("【报修】") == 20 and texts.TODO_MORE.format(count=5) in shown


# -- on the schedule ----------------------------------------------------------------------------

def with_digests(config, *schedules):
    return config.model_copy(update={"policy": config.policy.model_copy(
        update={"digests": list(schedules), "quiet_hours": None})})


def make_sim(config, network, db, clock):
    sim = Simulator(network, clock=clock)
    sim.attach(Bot(config, db, sim, network, clock=clock))
    return sim


async def tick_at(sim, clock, when):
    clock.now = when
    before = len(sim.posts)
    await sim.bot.tick(when)
    return sim.posts[before:]


async def test_a_branch_digest_goes_to_its_group_once_per_firing(config, network, db, clock):
    sim = make_sim(with_digests(config, DigestSchedule(level="branch", cron="0 18 * * *")),
                   network, db, clock)
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮", name="张阿姨")
    clock.advance(minutes=20)
    await sim.say(GRID, HEAD, "接单")
    clock.advance(hours=1)
    await sim.say(GRID, HEAD, "办结 #1 已修好")
    await sim.say(GRID, RESIDENT, "评价 #1 基本满意", name="张阿姨")
    await sim.say(GRID, RESIDENT, "下单 5号楼下水道堵了", name="张阿姨")   # normal, unclaimed

    evening = START.replace(hour=18)
    posted = await tick_at(sim, clock, evening)
    digests = [p for p in posted if "工作简报" in p.text]   # #2 also escalates at this tick
    # One per branch: 第一党支部 sees its tickets, 第二党支部 and 荷花's branch see none.
    assert sorted(p.room for p in digests) == sorted(["baiyi-b1@chatroom", "baiyi-b2@chatroom",
                                                       "hehua-b1@chatroom"])
    [ours] = [p for p in digests if p.room == BRANCH]
    assert "新增 2 张，接单 1 张，办结 1 张，超期未办 1 张" in ours.text  # #2 is 9 h unclaimed
    assert "平均接单用时 20分钟，平均办结用时 1小时20分钟" in ours.text
    assert "评价：满意 0，基本满意 1，不满意 0。" in ours.text
    assert "#2【" in ours.text and "（张*）" in ours.text  # above the micro-grid: masked
    assert await tick_at(sim, clock, evening + timedelta(minutes=1)) == []
    assert await tick_at(sim, clock, evening) == []                 # the same firing again
    tomorrow = [p for p in await tick_at(sim, clock, evening + timedelta(days=1))
                if "工作简报" in p.text]
    assert len(tomorrow) == 3
    [ours] = [p for p in tomorrow if p.room == BRANCH]
    assert "新增 0 张" in ours.text and "11-24 18:00 至 11-25 18:00" in ours.text


async def test_a_village_digest_goes_privately_to_its_head(config, network, db, clock):
    sim = make_sim(with_digests(config, DigestSchedule(level="village", cron="0 8 * * 1",
                                                       to="head")), network, db, clock)
    monday = START.replace(day=30, hour=8)  # 2026-11-30 is a Monday
    posts = await tick_at(sim, clock, monday)
    assert sorted(p.recipient for p in posts) == sorted([VILLAGE_HEAD, "wxid_huang_lei"])
    assert all(p.room is None for p in posts)
    assert any(line.group_name == "私聊 李文华" for line in sim.transcript)


async def test_after_a_downtime_only_the_latest_firing_goes(config, network, db, clock):
    sim = make_sim(with_digests(config, DigestSchedule(level="branch", cron="0 18 * * *")),
                   network, db, clock)
    first = START.replace(hour=18)
    await tick_at(sim, clock, first)
    await sim.say(GRID, RESIDENT, "下单 4号楼二单元4楼的灯不亮", name="张阿姨",
                  at=first + timedelta(days=1))
    # Down for three days: the firings of the 25th and 26th are missed; the 27th's goes, once,
    # covering everything since the last digest.
    back = [p for p in await tick_at(sim, clock, first + timedelta(days=3, hours=2))
            if "工作简报" in p.text]
    [ours] = [p for p in back if p.room == BRANCH]
    assert "11-24 18:00 至 11-27 18:00" in ours.text and "新增 1 张" in ours.text
    assert len(back) == 3
    with db.session() as session:
        assert len(session.exec(select(DigestRun)).all()) == 6


async def test_a_round_cut_short_is_finished_by_the_next_run_each_digest_once(config, network,
                                                                              db, clock):
    """A process stopped (or killed) in the middle of a round of digests: the next run writes
    the branches left, never again those written (it used to skip them: the round's firing was
    recorded, so it counted as done)."""
    config = with_digests(config, DigestSchedule(level="branch", cron="0 18 * * *"))
    evening = START.replace(hour=18)
    asked = []

    def after_one() -> bool:   # stop once the first branch's digest is written
        asked.append(1)
        return len(asked) > 1

    first = send_due_digests(config, db, network, evening, after_one)
    assert len({post.room for post in first}) == 1
    rest = send_due_digests(config, db, network, evening + timedelta(minutes=1))
    rooms = [post.room for post in first + rest if "工作简报" in post.text]
    assert sorted(rooms) == sorted(["baiyi-b1@chatroom", "baiyi-b2@chatroom",
                                    "hehua-b1@chatroom"])
    assert send_due_digests(config, db, network, evening + timedelta(minutes=2)) == []
    with db.session() as session:
        assert len(session.exec(select(DigestRun)).all()) == 3


async def test_a_new_schedule_does_not_send_a_firing_long_past(config, network, db, clock):
    sim = make_sim(with_digests(config, DigestSchedule(level="branch", cron="0 18 * * *")),
                   network, db, clock)
    assert await tick_at(sim, clock, START.replace(hour=20)) == []
    assert len(await tick_at(sim, clock, START.replace(day=25, hour=18))) == 3


def test_gridbot_digest_prints_one_on_demand(tmp_path):
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    gridbot("chat", "--config", CONFIG, "--db", db, stdin=jsonl(
        {"room": GRID, "sender": RESIDENT, "name": "王小明",
         "text": "下单 4号楼302室漏水 电话13812345678"}))
    micro = gridbot("digest", "--node", "shibalong-1", "--config", CONFIG, "--db", db)
    assert micro.returncode == 0, micro.stderr
    assert "【石坝垅小区第一微网格工作简报】" in micro.stdout and "新增 1 张" in micro.stdout
    village = gridbot("digest", "--node", "baiyi", "--since", "2h", "--config", CONFIG, "--db", db)
    assert "新增 1 张" in village.stdout and "13812345678" not in village.stdout
    unknown = gridbot("digest", "--node", "nowhere", "--config", CONFIG, "--db", db)
    assert unknown.returncode == 2 and "no node 'nowhere'" in unknown.stderr
    bad = gridbot("digest", "--node", "baiyi", "--since", "soon", "--config", CONFIG, "--db", db)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_gridbot_chat_writes_a_private_digest_with_the_same_four_keys(tmp_path):
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    # The shipped config sends village digests to the head on Monday 08:00.
    result = gridbot("chat", "--config", CONFIG, "--db", db,
                     stdin=jsonl({"tick": "2026-11-30T08:00:00+08:00"}))
    posts = [json.loads(line) for line in result.stdout.splitlines()]
    private = [p for p in posts if p["room"] is None]
    assert private and all(set(p) == {"room", "text", "mentions", "reply_to"} for p in posts)
    assert sorted(p["mentions"][0] for p in private) == sorted([VILLAGE_HEAD, "wxid_huang_lei"])
