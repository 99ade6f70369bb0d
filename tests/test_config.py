"""config.yaml loading: the shipped file, and one clear line per problem for a bad one."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from typer.testing import CliRunner

from bot.cli import app
from flows.config import ConfigError, GridConfig, Member, PlaceHead, load_config, parse_config

REPO = Path(__file__).resolve().parent.parent
LEVELS = "(levels: township, village, branch, microgrid)"


# How problems name the small network's nodes.
V1B = "network › v1 name (v1) › v1-b name (v1-b)"
V1G1, V1G2 = f"{V1B} › v1-g1 name (v1-g1)", f"{V1B} › v1-g2 name (v1-g2)"
V2B = "network › v2 name (v2) › v2-b name (v2-b)"
BAIYI_B1 = "network › 百宜社区 (baiyi) › 第一党支部 (baiyi-b1)"   # in the shipped file


def node(id: str, level: str, children=(), covers=(), **extra) -> dict:
    data = {"id": id, "level": level, "name": f"{id} name",
            "group": {"room": f"{id}@chatroom", "name": f"{id} group"},
            "head": {"id": f"wxid_{id}", "name": f"head of {id}"}}
    if children:
        data["children"] = list(children)
    if covers:
        data["covers"] = list(covers)
    return data | extra


def small() -> dict:
    """township → two villages → one branch each → two micro-grids each."""
    return {"network": node("town", "township", [
        node("v1", "village", [node("v1-b", "branch", [
            node("v1-g1", "microgrid", covers=["1栋", "2栋"]),
            node("v1-g2", "microgrid", covers=["3栋", "8栋1-2单元"]),
        ])]),
        node("v2", "village", [node("v2-b", "branch", [
            node("v2-g1", "microgrid", covers=["1栋"]),
            node("v2-g2", "microgrid", covers=["8栋3-4单元"]),
        ])]),
    ])}


def problems_of(data: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def first_microgrid(data: dict) -> dict:
    return data["network"]["children"][0]["children"][0]["children"][0]


# ---- the shipped file ---------------------------------------------------------------------


def test_the_shipped_config_loads_with_the_demo_network():
    config = load_config(REPO / "config.yaml")
    assert isinstance(config, GridConfig)
    assert config.levels == ["township", "village", "branch", "microgrid"]
    assert config.microgrid_level == "microgrid"
    assert config.network.id == "jili" and config.network.head.name == "陈洁"
    baiyi, hehua = config.network.children
    assert (baiyi.id, hehua.id) == ("baiyi", "hehua")
    b1 = baiyi.children[0]
    grid = b1.children[0]
    assert grid.id == "shibalong-1" and grid.head.id == "wxid_qiu_huanwu"
    assert grid.group.name == "石坝垅小区第一微网格联户群"
    assert [d.id for d in grid.deputies] == ["wxid_zhou_min"]
    assert b1.children[1].covers == ["5栋", PlaceHead(place="6栋", head=Member(id="wxid_fang_lan", name="方兰")),
                                     "7栋", "8栋1-2单元"]   # 6栋 has its own head (楼栋长)
    assert config.policy.timezone == "Asia/Shanghai"
    assert config.routing.co_handlers == [] and config.transport.kind == "simulator"


def test_the_small_fixture_is_itself_valid():
    config = parse_config(small())
    assert config.network.children[1].children[0].children[1].covers == ["8栋3-4单元"]


def test_a_five_level_network_with_a_city_on_top_loads(tmp_path):
    data = small()
    data["levels"] = ["city", "township", "village", "branch", "microgrid"]
    data["network"] = node("liuyang", "city", [data["network"]])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    assert config.levels[0] == "city" and config.network.children[0].id == "town"
    assert config.microgrid_level == "microgrid"


def test_the_root_may_be_at_any_level():
    data = {"network": node("v", "village", [node("b", "branch")])}
    assert parse_config(data).network.level == "village"


def test_blank_optional_keys_take_their_defaults():
    data = small()
    first_microgrid(data)["deputies"] = None   # `deputies:` with nothing after it
    data["policy"] = None
    config = parse_config(data)
    assert config.network.children[0].children[0].children[0].deputies == []
    assert config.policy.timezone == "Asia/Shanghai"


def test_numbers_in_yaml_are_read_as_ids():
    data = small()
    first_microgrid(data)["head"]["id"] = 12345
    assert parse_config(data).network.children[0].children[0].children[0].head.id == "12345"


# ---- structural problems ------------------------------------------------------------------


def test_a_missing_head_is_named_by_its_key_path():
    data = small()
    del data["network"]["children"][0]["head"]
    assert problems_of(data) == ["network › v1 name (v1) › head: missing"]


def test_a_missing_head_at_the_root():
    data = small()
    del data["network"]["head"]
    assert problems_of(data) == ["network › head: missing"]


def test_a_misspelt_key_is_an_unknown_key():
    data = small()
    data["network"]["children"][1]["deputys"] = []
    data["polcy"] = {}
    assert problems_of(data) == ["network › v2 name (v2) › deputys: unknown key", "polcy: unknown key"]


def test_all_structural_problems_are_reported_at_once():
    data = small()
    del data["network"]["children"][0]["head"]
    del data["network"]["children"][1]["children"][0]["group"]["room"]
    first_microgrid(data)["deputies"] = [{"id": "wxid_x"}]
    problems = problems_of(data)
    assert set(problems) == {
        "network › v1 name (v1) › head: missing",
        f"{V1G1} › deputies[0].name: missing",
        f"{V2B} › group.room: missing",
    }


def test_wrong_types_say_what_was_expected():
    data = small()
    data["network"]["children"][0]["group"] = "v1@chatroom"
    data["network"]["children"][1]["children"] = {"id": "x"}
    data["levels"] = "township"
    assert problems_of(data) == [
        "levels: should be a list, got 'township'",
        "network › v1 name (v1) › group: should be a mapping of keys, got 'v1@chatroom'",
        "network › v2 name (v2) › children: should be a list, got a mapping",
    ]


def test_an_empty_required_value_is_reported():
    data = small()
    data["network"]["head"] = None   # `head:` with nothing after it
    data["network"]["name"] = "  "
    assert problems_of(data) == ["network › name: should not be empty", "network › head: empty"]


def test_an_empty_file_misses_the_network():
    assert problems_of(None) == ["network: missing"]


def test_a_file_that_is_not_a_mapping():
    assert problems_of(["network"]) == ["(top level): should be a mapping of keys, got a list"]


def test_an_unknown_time_zone_and_transport_kind():
    data = small()
    data["policy"] = {"timezone": "Asia/Shangai"}
    data["transport"] = {"kind": "wechat"}
    assert problems_of(data) == [
        "policy.timezone: unknown time zone 'Asia/Shangai' (e.g. Asia/Shanghai)",
        "transport.kind: should be 'simulator', 'wechaty', 'webhook', 'wecom' or 'dingtalk', got 'wechat'",
    ]


def test_policy_durations_and_limits_are_checked():
    data = small()
    data["policy"] = {"rating_window": "3 days", "max_message_length": 10}
    assert problems_of(data) == [
        "policy.rating_window: expected a duration such as 10m, 2h, 5d or 1w, got '3 days'",
        "policy.max_message_length: should be at least 50, got 10",
    ]
    data["policy"] = {"rating_window": "12h"}
    assert parse_config(data).policy.rating_window.total_seconds() == 12 * 3600


def test_grouped_reminders_take_their_interval_from_the_timers_unless_given():
    data = small()
    assert parse_config(data).policy.reminders.group_after == 3
    assert parse_config(data).policy.reminder_every() == timedelta(hours=2)  # urgent's escalate_every
    data["policy"] = {"timers": {"urgent": {"escalate_every": "4h"}},
                      "category_timers": {"care": {"normal": {"escalate_every": "3h"}}}}
    assert parse_config(data).policy.reminder_every() == timedelta(hours=3)
    data["policy"]["reminders"] = {"group_after": 10, "every": "1d"}
    assert parse_config(data).policy.reminder_every() == timedelta(days=1)
    data["policy"]["reminders"] = {"group_after": 0, "every": "0m"}
    assert problems_of(data) == [
        "policy.reminders.group_after: should be at least 1, got 0",
        "policy.reminders.every: a duration must be longer than zero, got '0m'",
    ]


def test_added_parser_words_are_checked_with_their_key_path():
    data = small()
    data["lexicon"] = {"categories": {"repairs": ["x"], "sanitation": ["坏了"]}, "urgent": "冒烟"}
    assert problems_of(data) == [
        "lexicon.categories.repairs: unknown category",
        "lexicon.urgent: only categories.<code> and question, urgent, not_urgent, negations, "
        "neutral, present, hypothetical, lasting, settled can be extended, with lists of words",
    ]
    data["lexicon"] = {"categories": {"sanitation": ["坏了"]}}
    [duplicate] = problems_of(data)
    assert duplicate.startswith("lexicon: ") and "坏了" in duplicate
    data["lexicon"] = {"categories": {"repair": ["不通风"]}}
    assert parse_config(data).request_lexicon().category("房间不通风") == "repair"


def test_routing_rules_are_checked_too():
    data = small()
    data["routing"] = {"co_handlers": [{"category": "repair", "handler": {"id": "wxid_wuye", "name": "物业"}},
                                       {"urgent": "maybe", "handler": {"id": "wxid_police", "name": "民警"}}]}
    assert problems_of(data) == ["routing.co_handlers[1].urgent: should be true or false, got 'maybe'"]
    del data["routing"]["co_handlers"][1]
    rule = parse_config(data).routing.co_handlers[0]
    assert rule.category == "repair" and rule.urgent is None and rule.handler.id == "wxid_wuye"


def test_structural_problems_come_before_the_checks_of_meaning():
    data = small()
    del data["network"]["head"]
    data["network"]["children"][0]["level"] = "twon"   # would be a semantic problem
    assert problems_of(data) == ["network › head: missing"]


# ---- problems of meaning ------------------------------------------------------------------


def test_an_unknown_level_lists_the_known_ones():
    data = small()
    data["network"]["children"][1]["children"][0]["level"] = "twon"
    assert problems_of(data) == [f"{V2B} › level: unknown level 'twon' {LEVELS}"]


def test_a_child_must_be_below_its_parent():
    data = small()
    data["network"]["children"][0]["level"] = "township"
    assert problems_of(data) == [
        f"network › v1 name (v1) › level: 'township' is not below its parent's level 'township' {LEVELS}"]


def test_a_microgrid_under_a_microgrid_is_refused():
    data = small()
    first_microgrid(data)["children"] = [node("under", "microgrid", covers=["9栋"])]
    assert problems_of(data) == [
        f"{V1G1} › under name (under) › level: "
        f"'microgrid' is not below its parent's level 'microgrid' {LEVELS}"]


def test_a_level_may_be_skipped():
    data = small()
    data["network"]["children"][0] = node("direct", "branch", [node("direct-g", "microgrid", covers=["1栋"])])
    assert parse_config(data).network.children[0].level == "branch"


def test_a_duplicate_id_names_both_paths():
    data = small()
    data["network"]["children"][1]["children"][0]["children"][1]["id"] = "v1-g1"
    assert problems_of(data) == [
        f"{V2B} › v2-g2 name (v1-g1) › id: duplicate id 'v1-g1' "
        f"(also at {V1G1})"]


def test_a_room_used_twice_names_both_paths():
    data = small()
    data["network"]["children"][1]["group"]["room"] = "v1@chatroom"
    assert problems_of(data) == [
        "network › v2 name (v2) › group.room: room 'v1@chatroom' is used twice "
        "(also at network › v1 name (v1) › group.room)"]


def test_covers_belong_to_microgrids_only():
    data = small()
    data["network"]["children"][0]["covers"] = ["5栋"]
    assert problems_of(data) == [
        "network › v1 name (v1) › covers: only a 'microgrid' node covers buildings, this node is a 'village'"]


def test_an_unreadable_cover_is_named():
    data = small()
    first_microgrid(data)["covers"] = ["1栋", "8单元", "8栋3-1单元"]
    problems = problems_of(data)
    assert problems == [
        f"{V1G1} › covers[1]: cannot read '8单元': expected a "
        "building like '7栋', '7号楼', '7幢', '8栋3单元' or '8栋1-2单元'",
        f"{V1G1} › covers[2]: cannot read '8栋3-1单元': "
        "unit range 3-1 runs backwards",
    ]


@pytest.mark.parametrize(("mine", "theirs"), [
    ("1栋", "1栋"),
    ("一号楼", "1栋"),            # the same building written another way
    ("8栋2单元", "8栋1-2单元"),
    ("3栋1单元", "3栋"),          # a unit of a building the sibling covers whole
])
def test_sibling_microgrids_may_not_cover_the_same_place(mine, theirs):
    data = small()
    branch = data["network"]["children"][0]["children"][0]
    branch["children"][0]["covers"] = [theirs]
    branch["children"][1]["covers"] = ["5栋", mine]
    assert problems_of(data) == [
        f"{V1G2} › covers[1]: '{mine}' overlaps '{theirs}' "
        f"of sibling 'v1-g1' (at {V1G1} › covers[0])"]


def test_siblings_may_split_a_building_by_unit_and_cousins_may_share_a_number():
    data = small()
    branch = data["network"]["children"][0]["children"][0]
    branch["children"][0]["covers"] = ["8栋3-4单元", "1栋"]   # v2-g1 also covers 1栋: another community
    assert parse_config(data).network.children[0].children[0].children[0].covers[0] == "8栋3-4单元"


def test_levels_must_be_listed_once_each():
    data = small()
    data["levels"] = ["township", "village", "village", "branch", "microgrid"]
    assert problems_of(data) == ["levels[2]: duplicate level 'village'"]
    data["levels"] = []
    assert problems_of(data) == ["levels: empty; list the levels from the top down, "
                                 "e.g. [township, village, branch, microgrid]"]


def test_several_problems_of_meaning_give_several_lines():
    data = small()
    data["network"]["children"][1]["id"] = "v1"
    data["network"]["children"][1]["children"][0]["level"] = "twon"
    data["network"]["children"][0]["covers"] = ["5栋"]
    assert problems_of(data) == [
        "network › v1 name (v1) › covers: only a 'microgrid' node covers buildings, this node is a 'village'",
        "network › v2 name (v1) › id: duplicate id 'v1' (also at network › v1 name (v1))",
        f"network › v2 name (v1) › v2-b name (v2-b) › level: unknown level 'twon' {LEVELS}",
    ]


# ---- the file -----------------------------------------------------------------------------


def test_a_missing_file_is_one_line_naming_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("nowhere.yaml")
    assert caught.value.problems == [f"cannot read {tmp_path / 'nowhere.yaml'}: no such file"]


def test_what_the_transport_lacks_stops_only_what_starts_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GRIDBOT_WEBHOOK_SECRET", raising=False)
    path = tmp_path / "config.yaml"
    shipped = (REPO / "config.yaml").read_text(encoding="utf-8")
    path.write_text(shipped.replace("  kind: simulator\n", "  kind: webhook\n  callback_url: "
                                    "https://bridge.example/cb\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems[0].startswith("transport.secret: required")
    assert load_config(path, transport=False).transport.kind == "webhook"


def test_a_yaml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("levels: [township, microgrid]\nnetwork:\n  id: t\n  name: [unclosed\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}: line 4, column 9: YAML error: the list opened with [ here is not closed with ]"]


@pytest.mark.parametrize("damage, where, character", [
    ("\x00", "line 5, column 9", "U+0000"),      # yaml-rs stopped reading there, in silence
    ("\x07", "line 5, column 9", "U+0007"),      # yaml-rs took it into the value
    ("\x1b[0m", "line 5, column 9", "U+001B"),
])
def test_a_character_yaml_does_not_allow_is_named_where_it_is(tmp_path, damage, where, character):
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    lines[4] = lines[4][:8] + damage + lines[4][8:]
    path = tmp_path / "config.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: {where}: the character {character}, which YAML does not "
                              f"allow"), problem


def test_a_file_in_another_encoding_names_the_line_of_its_first_such_byte(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes("levels: [township, microgrid]\r\nnetwork:\r\n  name: 百宜社区\r\n"
                     .encode("gbk"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"cannot read {path}: not UTF-8 text (line 3: byte 0xB0; "
                                     f"saved in another encoding?)"]


def test_lists_nested_too_deeply_are_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("levels: " + "[" * 2000 + "]" * 2000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: YAML error: ") and "nested too deeply" in problem


SHIPPED_LINES = (REPO / "config.yaml").read_text(encoding="utf-8").splitlines()


def shipped_line(start: str) -> int:
    """The 1-based number of the shipped config's first line starting (after its indent) so."""
    return next(number for number, line in enumerate(SHIPPED_LINES, 1) if line.strip().startswith(start))


def check_with_one_line_changed(tmp_path, start: str, change) -> tuple[int, str]:
    """`gridbot config check` on the shipped config with one line changed: (exit code, output)."""
    number = shipped_line(start)
    lines = list(SHIPPED_LINES)
    lines[number - 1] = change(lines[number - 1])
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    return result.exit_code, result.output


@pytest.mark.parametrize(("start", "change", "column", "message"), [
    # An unclosed [ was noticed six lines on, at the next key, as "but got '?'".
    ("levels:", lambda line: line.rstrip("]"), 9, "the list opened with [ here is not closed with ]"),
    ("head: {id: wxid_liu_jianguo", lambda line: line.rstrip("}"), 21,
     "the mapping opened with { here is not closed with }"),
    # A quote left open was noticed at the next quote, lines on.
    ("name: 石坝垅小区第二微网格", lambda line: line.replace(": ", ': "'), 21,
     "the quote opened here is only closed at line {next_quote}"),
    ("name: 第一党支部", lambda line: line.replace("name: ", "name "), 11,
     "'name 第一党支部' has no ':' after its key; write `key: value`"),
    ("head: {id: wxid_liu_jianguo", lambda line: "\t" + line.lstrip(" "), 1,
     "a tab: YAML is indented with spaces only"),
])
def test_a_yaml_mistake_is_reported_at_its_own_line_in_plain_words(tmp_path, start, change, column, message):
    code, output = check_with_one_line_changed(tmp_path, start, change)
    line = shipped_line(start)
    message = message.replace("{next_quote}", str(shipped_line('covers: ["5栋"')))
    assert code == 2
    assert f"config.yaml: line {line}, column {column}: YAML error: {message}" in output
    assert "<block" not in output and "'?'" not in output and "<scalar>" not in output


def test_a_key_indented_wrongly_names_the_lines_to_look_at(tmp_path):
    # `max_message_length` moved out of `policy:`; the parser stumbles four lines on.
    code, output = check_with_one_line_changed(tmp_path, "max_message_length:", str.lstrip)
    mistake, stumble = shipped_line("max_message_length:"), shipped_line("sender_clock_tolerance:")
    assert code == 2 and stumble - mistake >= 3
    assert (f"line {stumble}, column 3: YAML error: a key 'sender_clock_tolerance: 5m' does not line up "
            f"with the lines above it; check the indentation of lines {mistake}-{stumble}") in output


def test_a_value_running_into_a_deeper_line_is_named_at_its_start(tmp_path):
    code, output = check_with_one_line_changed(tmp_path, "id: jili", lambda line: line.replace(":", ""))
    line = shipped_line("id: jili")
    assert code == 2
    assert (f"line {line}, column 3: YAML error: 'id jili' runs on into line {line + 1} as one value: "
            f"a key without ':' here, or line {line + 1} indented deeper than this one") in output


def test_a_quote_never_closed_is_named_where_it_opens(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("network:\n  id: t\n  name: 'unclosed\n  level: township\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert "line 3, column 9: YAML error: the quote opened here is never closed" in result.output


def test_a_key_given_twice_is_refused_rather_than_silently_overwritten(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("network:\n  id: t\n  id: u\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: line 3, column 3: YAML error: duplicate key 'id'"]


def test_a_file_with_problems_reports_them_with_key_paths(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("levels: [township, microgrid]\nnetwork:\n  id: t\n  level: town\n  name: x\n"
                    "  group: {room: r, name: g}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == ["network › head: missing"]


def test_config_check_names_a_node_by_its_name_and_id(tmp_path):
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    head = "              head: {id: wxid_zhao_li, name: 赵丽}\n"
    assert text.count(head) == 1
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(head, ""), encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert (f"{BAIYI_B1} › 石坝垅小区第三微网格 (shibalong-3) › head: missing"
            in result.output)
    assert "children[" not in result.output


def test_a_node_without_a_name_or_an_id_is_named_by_what_it_has():
    data = small()
    del data["network"]["children"][0]["name"]
    del data["network"]["children"][1]["children"][0]["id"]
    data["network"]["children"][1]["children"][0]["name"] = 7   # a number is read as text
    assert problems_of(data) == [
        "network › v1 › name: missing",
        "network › v2 name (v2) › 7 › id: missing",
    ]
    del data["network"]["children"][1]["children"][0]["name"]
    assert problems_of(data)[1] == "network › v2 name (v2) › children[0] › id: missing"


def test_the_shipped_file_mutated_still_reports_paths(tmp_path):
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    broken = copy.deepcopy(data)
    broken["network"]["children"][0]["children"][0]["children"][2]["covers"].append("7栋")
    assert problems_of(broken) == [
        f"{BAIYI_B1} › 石坝垅小区第三微网格 (shibalong-3) › covers[3]: '7栋' overlaps '7栋' of sibling "
        f"'shibalong-2' (at {BAIYI_B1} › 石坝垅小区第二微网格 (shibalong-2) › covers[2])"]


# ---- transports and policy -----------------------------------------------------------------


def test_a_wechaty_transport_needs_an_endpoint_and_a_token(monkeypatch):
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    assert problems_of(small() | {"transport": {"kind": "wechaty", "endpoint": "gateway"}}) == [
        "transport.endpoint: the wechaty gateway as HOST:PORT expected, got 'gateway'",
        "transport.token: required when transport.kind is wechaty (here or in $WECHATY_PUPPET_SERVICE_TOKEN)",
    ]
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", "from-the-environment")
    config = parse_config(small() | {"transport": {"kind": "wechaty", "endpoint": "10.0.0.5:8788"}})
    assert config.transport.wechaty_token() == "from-the-environment"


def test_a_webhook_transport_needs_a_callback_url_and_a_secret(monkeypatch):
    monkeypatch.delenv("GRIDBOT_WEBHOOK_SECRET", raising=False)
    assert problems_of(small() | {"transport": {"kind": "webhook", "callback_url": "ftp://x"}}) == [
        "transport.callback_url: an http(s) URL expected, got 'ftp://x'",
        "transport.secret: required when transport.kind is webhook (here or in $GRIDBOT_WEBHOOK_SECRET)",
    ]
    config = parse_config(small() | {"transport": {"kind": "webhook", "secret": "k",
                                                   "callback_url": "https://bridge.example/cb"}})
    assert config.transport.webhook_secret() == "k"


def test_how_long_a_transport_may_fail_before_it_is_not_ready():
    assert parse_config(small()).transport.unready_after == timedelta(minutes=5)
    assert parse_config(small() | {"transport": {"unready_after": "2m30s"}}).transport.unready_after \
        == timedelta(minutes=2, seconds=30)
    assert problems_of(small() | {"transport": {"unready_after": "0s"}}) == [
        "transport.unready_after: a duration must be longer than zero, got '0s'"]


def test_a_transport_missing_what_its_kind_needs_says_so_rather_than_got_none(monkeypatch):
    monkeypatch.delenv("GRIDBOT_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    webhook = problems_of(small() | {"transport": {"kind": "webhook"}})
    assert webhook == [
        "transport.callback_url: required when transport.kind is webhook "
        "(the http(s) URL the bot's posts are POSTed to)",
        "transport.secret: required when transport.kind is webhook (here or in $GRIDBOT_WEBHOOK_SECRET)",
    ]
    assert problems_of(small() | {"transport": {"kind": "wechaty"}})[0] == (
        "transport.endpoint: required when transport.kind is wechaty (the puppet service gateway as HOST:PORT)")


def test_numbers_and_times_are_asked_for_in_plain_words():
    data = small() | {
        "policy": {"max_message_length": "many", "request_limit": {"requests": 0},
                   "quiet_hours": {"start": "25:00", "end": "7:00"}},
        "transport": {"max_post_chars": 50.5},
        "api": {"max_request_bytes": 10**10},
    }
    found = problems_of(data)
    assert found == [
        "policy.max_message_length: should be a whole number, got 'many'",
        "policy.quiet_hours.start: should be a time such as 22:00, got '25:00'",
        "policy.request_limit.requests: should be at least 1, got 0",
        "transport.max_post_chars: should be a whole number, got 50.5",
        "api.max_request_bytes: should be at most 100,000,000, got 10000000000",
    ]
    assert not any("Input" in line or "valid" in line or "None" in line for line in found)


def test_a_quoted_quiet_hour_of_one_digit_is_read():
    config = parse_config(small() | {"policy": {"quiet_hours": {"start": "22:00", "end": "7:00"}}})
    assert str(config.policy.quiet_hours.end) == "07:00:00"


def test_policy_timers_quiet_hours_and_digests_are_checked():
    data = small() | {"policy": {
        "timers": {"normal": {"escalate_every": "often"}},
        "category_timers": {"plumbing": {}},
        "quiet_hours": {"start": "22:00", "end": "22:00"},
        "digests": [{"level": "county", "cron": "0 8 * * *"}, {"level": "branch", "cron": "8am"}],
    }}
    found = problems_of(data)
    assert "policy.timers.normal.escalate_every: expected a duration such as 10m, 2h, 5d or 1w, got 'often'" in found
    assert any(p.startswith("policy.category_timers: unknown category 'plumbing'") for p in found)
    assert any(p.startswith("policy.quiet_hours: start and end are the same time") for p in found)
    assert any(p.startswith("policy.digests[1].cron: cannot read cron '8am'") for p in found)


def test_an_unknown_digest_level_is_named():
    data = small() | {"policy": {"digests": [{"level": "county", "cron": "0 8 * * *"}]}}
    assert problems_of(data) == [f"policy.digests[0].level: unknown level 'county' {LEVELS}"]


def test_quiet_hours_read_unquoted_yaml_times():
    config = parse_config(yaml.safe_load(yaml.safe_dump(small())) | {
        "policy": yaml.safe_load("quiet_hours: {start: 22:00, end: 7:00}")})
    assert str(config.policy.quiet_hours.start) == "22:00:00"
    assert str(config.policy.quiet_hours.end) == "07:00:00"
