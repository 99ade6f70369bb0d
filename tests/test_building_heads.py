"""Building and unit heads (楼栋长、单元长) below the micro-grid head: Pingxiang's 三长, Taibaihu's
单元, Qingzhou's 红色楼长. A micro-grid's `covers` may name a head per building or unit; a request
placed there @-mentions that head beside the micro-grid head, who may claim, report progress and
resolve it like a deputy, but not another building's; `待办` lists their building's tickets. The
shipped demo names one: 方兰, 楼栋长 of 6栋 in 石坝垅小区第二微网格 (head 刘建国)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from chat_script import BRANCH, chat, kinds, replies, say, tickets
from conftest import REPO
from flows import texts
from flows.config import ConfigError, load_config, parse_config
from flows.network import Network
from models.tables import Status

GRID_2 = "shibalong-2@chatroom"
LIU, FANG, LU, ZHAO = "wxid_liu_jianguo", "wxid_fang_lan", "wxid_lu_ping", "wxid_zhao_daye"
GRID_2_PATH = ("network › 百宜社区 (baiyi) › 第一党支部 (baiyi-b1) › "
               "石坝垅小区第二微网格 (shibalong-2) › covers")


def shipped() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def grid_2(data: dict) -> dict:
    return data["network"]["children"][0]["children"][0]["children"][1]


def with_covers(covers: list) -> dict:
    data = shipped()
    grid_2(data)["covers"] = covers
    return data


FANG_6 = {"place": "6栋", "head": {"id": FANG, "name": "方兰"}}
LU_6_2 = {"place": "6栋2单元", "head": {"id": LU, "name": "陆平"}}


@pytest.fixture(scope="module")
def demo():
    return load_config(REPO / "config.yaml")


@pytest.fixture(scope="module")
def with_unit_head():
    """The demo with a 单元长 of 6栋2单元 too, inside 方兰's building."""
    return parse_config(with_covers(["5栋", FANG_6, LU_6_2, "7栋", "8栋1-2单元"]))


def resident(id: str, text: str, room: str = GRID_2) -> dict:
    return say(id, ZHAO, text, "赵大爷", room=room)


def fang(id: str, text: str, room: str = GRID_2) -> dict:
    return say(id, FANG, text, "方兰", room=room)


def calls(posts: list[dict], message_id: str) -> list[dict]:
    """The bot's calls to claim a request (in whichever group they went)."""
    return [p for p in posts if p["reply_to"] == message_id and p["text"].startswith("已受理")]


async def test_a_request_for_the_building_calls_its_head_beside_the_grid_head(db, demo):
    posts = await chat(db, demo, [resident("o1", "下单 6栋3单元楼道灯不亮")])
    [call] = calls(posts, "o1")
    assert call["room"] == GRID_2 and call["mentions"] == [LIU, FANG]
    assert "楼栋长：方兰" in call["text"] and "请网格长或楼栋长回复「接单」认领。" in call["text"]


async def test_the_building_head_claims_reports_and_resolves_their_buildings_ticket(db, demo):
    posts = await chat(db, demo, [
        resident("o1", "下单 6号楼门口垃圾三天没人收"),
        fang("c1", "接单 #1"),
        fang("p1", "进展 #1 已联系保洁，下午清"),
        fang("r1", "办结 #1 已清运"),
    ])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="方兰")]
    assert replies(posts, "p1") == [texts.PROGRESS_NOTED.format(number=1, progress="已联系保洁，下午清")]
    [ticket] = tickets(db)
    assert ticket.status == Status.RESOLVED and ticket.assignee_id == FANG
    assert kinds(db, 1) == ["created", "claimed", "progress", "resolved"]


async def test_the_building_head_may_not_take_another_buildings_ticket(db, demo):
    posts = await chat(db, demo, [
        resident("o1", "下单 7栋楼道灯不亮"),
        fang("c1", "接单 #1"),
        fang("r1", "办结 #1 已修好"),
        say("c2", LIU, "接单 #1", "刘建国", room=GRID_2),
    ])
    [call] = calls(posts, "o1")
    assert call["mentions"] == [LIU] and "楼栋长" not in call["text"]
    refused = texts.NOT_YOUR_PLACE.format(number=1, places="6栋", action="接单")
    assert refused == "抱歉，#1 不在您负责的6栋，不能接单。"
    assert replies(posts, "c1") == [refused]
    assert replies(posts, "r1") == [texts.NOT_YOUR_PLACE.format(number=1, places="6栋", action="办结")]
    assert replies(posts, "c2") == [texts.CLAIMED.format(number=1, handler="刘建国")]
    assert tickets(db)[0].assignee_id == LIU


async def test_a_request_with_no_place_goes_to_the_grid_head_alone(db, demo):
    posts = await chat(db, demo, [
        resident("o1", "下单 小区门口的路灯不亮了"),
        fang("c1", "接单 #1"),
    ])
    [call] = calls(posts, "o1")
    assert call["mentions"] == [LIU] and "请网格长回复「接单」认领。" in call["text"]
    assert replies(posts, "c1") == [texts.NOT_YOUR_PLACE.format(number=1, places="6栋", action="接单")]
    assert tickets(db)[0].status == Status.OPEN


async def test_a_request_in_the_branch_group_naming_the_building_reaches_its_head(db, demo):
    posts = await chat(db, demo, [resident("o1", "下单 6栋电梯坏了", room=BRANCH)])
    [call] = calls(posts, "o1")[1:]   # the first tells the reporter where it went
    assert call["room"] == GRID_2 and call["mentions"] == [LIU, FANG]


async def test_todo_by_the_building_head_lists_their_buildings_tickets(db, demo):
    posts = await chat(db, demo, [
        resident("o1", "下单 6栋楼道灯不亮"),
        resident("o2", "下单 7栋楼道灯不亮"),
        resident("o3", "下单 6栋2单元水管漏水"),
        resident("o4", "下单 小区门口垃圾没人收"),
        fang("t1", "待办"),
        say("t2", LIU, "待办", "刘建国", room=GRID_2),
        resident("t3", "待办"),
        fang("s1", "统计"),
    ])
    [mine] = replies(posts, "t1")
    assert mine.startswith(texts.TODO_HEADER.format(scope="石坝垅小区第二微网格6栋", count=2))
    assert "#1" in mine and "#3" in mine and "#2" not in mine and "#4" not in mine
    [theirs] = replies(posts, "t2")
    assert theirs.startswith(texts.TODO_HEADER.format(scope="石坝垅小区第二微网格", count=4))
    assert replies(posts, "t3") == [texts.NOT_A_HEAD.format(action=texts.ACTIONS["待办"])]
    [figures] = replies(posts, "s1")
    assert figures.startswith("「石坝垅小区第二微网格6栋」共 2 张：待接单 2，")


async def test_a_unit_head_is_the_nearer_one_and_the_building_head_keeps_the_building(db, with_unit_head):
    posts = await chat(db, with_unit_head, [
        resident("o1", "下单 6栋2单元楼道灯不亮"),
        resident("o2", "下单 6栋1单元楼道灯不亮"),
        say("c1", LU, "接单 #2", "陆平", room=GRID_2),
        fang("c2", "接单 #1"),
    ])
    [unit_call], [building_call] = calls(posts, "o1"), calls(posts, "o2")
    assert unit_call["mentions"] == [LIU, LU] and "单元长：陆平" in unit_call["text"]
    assert "请网格长或单元长回复「接单」认领。" in unit_call["text"]
    assert building_call["mentions"] == [LIU, FANG]
    assert replies(posts, "c1") == [texts.NOT_YOUR_PLACE.format(number=2, places="6栋2单元",
                                                                  action="接单")]
    assert replies(posts, "c2") == [texts.CLAIMED.format(number=1, handler="方兰")]


async def test_the_grid_head_may_hand_the_building_head_their_buildings_ticket_only(db, demo):
    posts = await chat(db, demo, [
        resident("o1", "下单 6栋楼道灯不亮"),
        resident("o2", "下单 7栋楼道灯不亮"),
        say("c1", LIU, "接单 #1 #2", "刘建国", room=GRID_2),
        say("t1", LIU, "转派 #1 @方兰", "刘建国", room=GRID_2),
        say("t2", LIU, "转派 #2 @方兰", "刘建国", room=GRID_2),
    ])
    assert texts.TRANSFERRED.format(number=1, handler="刘建国", target="方兰") in replies(posts, "t1")
    assert replies(posts, "t2") == [texts.NOT_AUTHORISED_TARGET.format(name="方兰", number=2)]
    assert [t.assignee_id for t in tickets(db)] == [FANG, LIU]


async def test_a_building_head_away_names_a_stand_in_who_is_called_in_their_place(db, demo):
    posts = await chat(db, demo, [
        fang("l1", "请假 至11月30日 代理 @王国强"),
        resident("o1", "下单 6栋楼道灯不亮"),
    ])
    assert replies(posts, "l1") == [texts.LEAVE_SET.format(head="方兰", stand_in="王国强",
                                                           last="11月30日")]
    [call] = calls(posts, "o1")
    assert call["mentions"] == [LIU, FANG, "wxid_wang_guoqiang"]


def test_the_network_finds_the_nearest_head_of_a_place(with_unit_head):
    network = Network(with_unit_head)

    def head(building, unit=None, grid="shibalong-2"):
        found = network.place_head(grid, building, unit)
        return found and (found.head.id, found.title)

    assert head("6") == (FANG, "楼栋长") and head("6", "1") == (FANG, "楼栋长")
    assert head("6", "2") == (LU, "单元长")
    assert head("7") is None and head(None) is None and head("6", grid="shibalong-1") is None
    assert [str(led.place) for led in network.places_led_by(LU)] == ["6栋2单元"]
    assert network.member_name(FANG) == "方兰" and network.nodes_led_by(FANG) == []


# ---- config.yaml --------------------------------------------------------------------------


def test_both_forms_may_be_mixed_and_a_unit_may_have_a_head_inside_a_headed_building():
    config = parse_config(with_covers([
        "5栋", FANG_6, LU_6_2, "7栋", "8栋1-2单元",
        {"place": "8栋2单元", "head": {"id": "wxid_qin", "name": "秦月"}},      # within 8栋1-2单元
        {"place": "20栋", "head": {"id": LIU, "name": "刘建国"}},              # the grid head too
    ]))
    network = Network(config)
    assert network.microgrid_covering("baiyi", "20").id == "shibalong-2"   # the head's place is covered
    assert network.place_head("shibalong-2", "8", "2").head.name == "秦月"


@pytest.mark.parametrize(("covers", "problem"), [
    # a place the grid does not cover
    (["5栋", "6栋", "7栋", "8栋1-2单元", {"place": "8栋3单元", "head": {"id": LU, "name": "陆平"}}],
     f"{GRID_2_PATH}[4].place: '8栋3单元' is not a place this grid covers "
     "(of 8栋 it covers only '8栋1-2单元')"),
    (["8栋3单元", {"place": "8栋1-2单元", "head": {"id": LU, "name": "陆平"}}],
     f"{GRID_2_PATH}[1].place: '8栋1-2单元' is not a place this grid covers "
     "(of 8栋 it covers only '8栋3单元')"),
    (["5栋", {"place": "6号", "head": {"id": LU, "name": "陆平"}}],
     f"{GRID_2_PATH}[1].place: cannot read '6号': expected a building like"),
    # two heads for one place
    (["5栋", FANG_6, {"place": "六号楼", "head": {"id": LU, "name": "陆平"}}],
     f"{GRID_2_PATH}[2]: 6栋 already has a 楼栋长, 方兰 (at {GRID_2_PATH}[1]); one head per place"),
    (["8栋1-2单元", {"place": "8栋1-2单元", "head": {"id": LU, "name": "陆平"}},
      {"place": "8栋2单元", "head": {"id": "wxid_qin", "name": "秦月"}}],
     f"{GRID_2_PATH}[2]: 8栋2单元 already has a 单元长, 陆平 (at {GRID_2_PATH}[1]); one head per place"),
    # not a member: empty, missing, the bot itself, an id the network gives another name
    (["5栋", {"place": "6栋", "head": {"id": "", "name": "方兰"}}],
     f"{GRID_2_PATH}[1].head.id: should not be empty"),
    (["5栋", {"place": "6栋"}], f"{GRID_2_PATH}[1].head: missing"),
    (["5栋", {"place": "6栋", "head": {"id": FANG, "nmae": "方兰"}}], f"{GRID_2_PATH}[1].head.nmae: unknown key"),
    (["5栋", {"place": "6栋", "head": {"id": "wxid_gridbot", "name": "小助手"}}],
     f"{GRID_2_PATH}[1].head.id: 'wxid_gridbot' is the bot itself (transport.bot_id)"),
    (["5栋", {"place": "6栋", "head": {"id": "wxid_zhou_min", "name": "周老师"}}],
     f"{GRID_2_PATH}[1].head: member 'wxid_zhou_min' is named '周老师' here but '周敏' at "
     "network › 百宜社区 (baiyi) › 第一党支部 (baiyi-b1) › 石坝垅小区第一微网格 (shibalong-1) › "
     "deputies[0]; one id is one person"),
    (["5栋", ["6栋"]], f"{GRID_2_PATH}[1]: should be a building such as '7栋', or a place with "
                      "its head such as {place: 4栋, head: {id: …, name: …}}, got a list"),
], ids=["unit-not-covered", "units-not-covered", "unreadable-place", "two-building-heads",
        "two-unit-heads", "empty-id", "no-head", "misspelt-key", "the-bot", "id-named-otherwise",
        "neither-form"])
def test_a_bad_building_head_stops_the_config_check(tmp_path, covers, problem):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(with_covers(covers), allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems
    result = subprocess.run([sys.executable, "-m", "bot.cli", "config", "check", "--config", str(path)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2 and problem in result.stderr


def test_the_readme_example_is_a_valid_covers_list():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("mixed with plain buildings in one list:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    covers = yaml.safe_load(example)["covers"]
    network = Network(parse_config(with_covers(covers)))
    assert network.place_head("shibalong-2", "6", "1").head.name == "方兰"
    assert network.place_head("shibalong-2", "8", "2").head.name == "秦月"
    assert network.place_head("shibalong-2", "8", "1") is None


def test_a_head_of_another_nodes_elsewhere_may_head_a_building_under_the_same_name():
    config = parse_config(with_covers(["5栋", {"place": "6栋", "head": {"id": "wxid_zhou_min", "name": "周敏"}}]))
    assert Network(config).place_head("shibalong-2", "6", None).head.id == "wxid_zhou_min"
