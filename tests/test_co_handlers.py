"""Co-handlers (协办, design §6): routing rules add a member to the tickets they match, by category,
urgency, node and level, as an alert router matches labels to receivers; the co-handler is
@-mentioned with the head and may claim, note progress and resolve; rules naming what does not
exist stop the config check."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chat_script import BRANCH, GRID, HEAD, ZHANG, chat, kinds, replies, say, shipped_config_with, tickets
from conftest import REPO
from flows import texts
from flows.config import ConfigError, load_config
from flows.network import Network
from flows.routing import co_handlers
from models.tables import Status

WUYE, POLICE, MEDIATOR = "wxid_wuye", "wxid_police", "wxid_mediator"
OTHER_GRID = "baiyi-b2-1@chatroom"   # a micro-grid outside 第一党支部
RULES = """routing:
  co_handlers:
    - {category: repair, node: baiyi-b1, handler: {id: wxid_wuye, name: 物业服务中心}}
    - {category: [security, dispute], urgent: true, handler: {id: wxid_police, name: 社区民警}}
    - {category: dispute, level: microgrid, handler: {id: wxid_mediator, name: 调解员}}
"""


@pytest.fixture(scope="module")
def ruled(tmp_path_factory):
    return shipped_config_with(tmp_path_factory, "routing:\n  co_handlers: []\n", RULES)


def wuye(id: str, text: str, room: str = GRID) -> dict:
    return say(id, WUYE, text, "物业服务中心", room=room)


def resident(id: str, text: str, room: str = GRID) -> dict:
    return say(id, ZHANG, text, "张阿姨", room=room)


def test_rules_match_by_category_urgency_node_and_level(ruled):
    network = Network(ruled)
    grid, other = network.node("shibalong-1"), network.node("baiyi-b2-1")
    branch = network.node("baiyi-b1")

    def ids(node, category, urgent):
        return [m.id for m in co_handlers(network, node, category, urgent)]

    assert ids(grid, "repair", False) == [WUYE]
    assert ids(branch, "repair", True) == [WUYE]            # the rule's node itself
    assert ids(other, "repair", False) == []                # outside the rule's node
    assert ids(grid, "security", True) == [POLICE]
    assert ids(grid, "security", False) == []
    assert ids(grid, "dispute", True) == [POLICE, MEDIATOR]  # several rules, in the config's order
    assert ids(branch, "dispute", False) == []              # the mediator's rule is for micro-grids
    assert ids(grid, "sanitation", True) == []


async def test_the_co_handler_is_called_with_the_head_and_may_claim_report_and_resolve(db, ruled):
    posts = await chat(db, ruled, [
        resident("o1", "下单 4栋2单元楼道灯不亮"),
        wuye("c1", "接单 #1"),
        wuye("p1", "进展 #1 灯管已经买了，下午换"),
        say("q1", HEAD, "查询 #1", "邱煥武"),
        wuye("r1", "办结 #1 已换好灯管"),
    ])
    [call] = [p for p in posts if p["reply_to"] == "o1"]
    assert call["mentions"] == [HEAD, WUYE]
    assert "协办：物业服务中心" in call["text"] and "请网格长或协办人回复「接单」" in call["text"]
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="物业服务中心")]
    assert replies(posts, "p1") == [texts.PROGRESS_NOTED.format(
        number=1, progress="灯管已经买了，下午换")]
    [history] = replies(posts, "q1")
    assert "协办：物业服务中心" in history and "接单 物业服务中心" in history
    [ticket] = tickets(db)
    assert ticket.status == Status.RESOLVED and ticket.assignee_id == WUYE
    assert kinds(db, 1) == ["created", "claimed", "progress", "resolved"]


async def test_the_co_handler_may_report_and_resolve_what_the_head_claimed(db, ruled):
    posts = await chat(db, ruled, [
        resident("o1", "下单 4栋2单元楼道灯不亮"),
        say("c1", HEAD, "接单", "邱煥武"),
        wuye("c2", "接单 #1"),
        wuye("p1", "进展 #1 师傅在路上"),
        wuye("r1", "办结 #1 已修好"),
    ])
    assert replies(posts, "c2") == [texts.ALREADY_CLAIMED.format(number=1, handler="邱煥武")]
    assert replies(posts, "p1") == [texts.PROGRESS_NOTED.format(number=1, progress="师傅在路上")]
    [ticket] = tickets(db)
    assert ticket.status == Status.RESOLVED and ticket.assignee_id == HEAD


async def test_a_resident_or_a_co_handler_of_another_kind_of_ticket_may_not(db, ruled):
    posts = await chat(db, ruled, [
        resident("o1", "下单 3栋门口垃圾堆了三天没人收"),          # sanitation: no rule
        wuye("c1", "接单 #1"),
        resident("o2", "下单 新村5栋的路灯坏了", room=OTHER_GRID),  # repair outside the rule's node
        wuye("c2", "接单 #2", room=OTHER_GRID),
        resident("c3", "接单 #1"),
    ])
    [first, second] = tickets(db)
    assert first.category == "sanitation" and second.category == "repair"
    assert all(WUYE not in p["mentions"] for p in posts if p["reply_to"] in ("o1", "o2"))
    for refused in ("c1", "c2", "c3"):
        [answer] = replies(posts, refused)
        assert "已接单" not in answer and "接单人" not in answer
    assert first.status == second.status == Status.OPEN


async def test_a_recategorised_ticket_follows_its_new_rules(db, ruled):
    posts = await chat(db, ruled, [
        resident("o1", "下单 4栋2单元楼道灯不亮"),
        say("k1", HEAD, "改类 #1 环境卫生", "邱煥武"),
        wuye("c1", "接单 #1"),
    ])
    assert "环境卫生" in replies(posts, "k1")[0]
    assert tickets(db)[0].status == Status.OPEN
    assert texts.CLAIMED.format(number=1, handler="物业服务中心") not in replies(posts, "c1")


async def test_an_urgent_security_report_calls_the_police_officer_and_a_normal_one_does_not(db, ruled):
    posts = await chat(db, ruled, [
        resident("o1", "下单 3栋楼道里有人在撬门，现在还在"),
        resident("o2", "下单 上个月电动车被偷了，想问问有没有进展"),
    ])
    first, second = tickets(db)
    assert first.urgent and first.category == "security"
    assert not second.urgent
    mentions = {p["reply_to"]: p["mentions"] for p in posts if p["reply_to"] in ("o1", "o2")
                and p["room"] == GRID}
    assert mentions["o1"] == [HEAD, POLICE]
    assert POLICE not in mentions["o2"]


async def test_the_co_handlers_stay_called_when_the_ticket_waits_again(db, ruled):
    posts = await chat(db, ruled, [
        resident("o1", "下单 4栋2单元楼道灯不亮"),
        say("c1", HEAD, "接单", "邱煥武"),
        say("b1", HEAD, "退单 #1 不归我管", "邱煥武"),
    ])
    [back] = [p for p in posts if p["reply_to"] == "b1" and p["mentions"]]
    assert back["mentions"] == [WUYE]   # the head who gave it back is not called to take it
    assert not [p for p in posts if p["room"] == BRANCH and WUYE in p["mentions"]]


@pytest.mark.parametrize("rule,problem", [
    ("{category: reapir, handler: {id: w, name: 物业}}",
     "routing.co_handlers[0].category: unknown category 'reapir', did you mean 'repair'?"),
    ("{category: [repair, secruity], handler: {id: w, name: 物业}}",
     "routing.co_handlers[0].category: unknown category 'secruity', did you mean 'security'?"),
    ("{level: micrgrid, handler: {id: w, name: 物业}}",
     "routing.co_handlers[0].level: unknown level 'micrgrid', did you mean 'microgrid'?"),
    ("{node: shibalong1, handler: {id: w, name: 物业}}",
     "routing.co_handlers[0].node: no node has the id 'shibalong1', did you mean 'shibalong-1'?"),
    ("{category: [], handler: {id: w, name: 物业}}",
     "routing.co_handlers[0].category: empty list; leave the key out to match any category"),
])
def test_a_rule_naming_what_does_not_exist_stops_the_config_check(tmp_path, rule, problem):
    shipped = (REPO / "config.yaml").read_text(encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(shipped.replace("routing:\n  co_handlers: []\n",
                                    f"routing:\n  co_handlers:\n    - {rule}\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert problem in caught.value.problems[0]
    result = subprocess.run([sys.executable, "-m", "bot.cli", "config", "check", "--config", str(path)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode != 0 and problem in result.stderr
