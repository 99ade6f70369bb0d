"""The network index: covers, look-ups, and which micro-grid covers a place at each level."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import load_config, parse_config
from flows.network import Cover, Network, fold_name, members_of, parse_cover, role_ids

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def net() -> Network:
    return Network(load_config(REPO / "config.yaml"))


def covering(net: Network, within: str, building: str, unit: str | None = None) -> str | None:
    found = net.microgrid_covering(within, building, unit)
    return None if found is None else found.id


# ---- parse_cover --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "building", "units"), [
    ("7栋", "7", None),
    ("7号楼", "7", None),
    ("7幢", "7", None),
    ("七栋", "7", None),
    ("十一号楼", "11", None),
    ("二十号楼", "20", None),
    ("１２栋", "12", None),
    ("17#楼", "17", None),
    ("第5幢", "5", None),
    (" 7栋 ", "7", None),
    ("8栋3单元", "8", {"3"}),
    ("8栋1-2单元", "8", {"1", "2"}),
    ("8栋1～3单元", "8", {"1", "2", "3"}),
    ("八号楼二单元", "8", {"2"}),
    ("8栋　３－４单元", "8", {"3", "4"}),   # full-width space, digits and dash
])
def test_parse_cover_reads_the_usual_forms(text, building, units):
    cover = parse_cover(text)
    assert cover.building == building
    assert cover.units == (None if units is None else frozenset(units))


@pytest.mark.parametrize(("text", "reason"), [
    ("7", "expected a building like"),
    ("8单元", "expected a building like"),
    ("A栋", "expected a building like"),
    ("7栋楼下", "expected a building like"),
    ("", "expected a building like"),
    ("0栋", "building number cannot be 0"),
    ("8栋3-1单元", "unit range 3-1 runs backwards"),
    ("8栋1-500单元", "wider than"),
])
def test_parse_cover_refuses_what_it_cannot_read(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_cover(text)


def test_covers_overlap_by_building_and_unit():
    assert parse_cover("8栋").overlaps(parse_cover("8栋2单元"))
    assert parse_cover("8栋1-2单元").overlaps(parse_cover("8栋2-3单元"))
    assert not parse_cover("8栋1-2单元").overlaps(parse_cover("8栋3-4单元"))
    assert not parse_cover("8栋").overlaps(parse_cover("9栋"))
    assert str(parse_cover("八号楼一至二单元")) == "8栋1-2单元"
    assert Cover("7") == parse_cover("七幢")


# ---- look-ups -----------------------------------------------------------------------------


def test_nodes_rooms_and_parents(net):
    assert net.root.id == "jili" and net.levels == ("township", "village", "branch", "microgrid")
    assert net.node("shibalong-1").head.name == "邱煥武"
    assert net.get("nowhere") is None
    with pytest.raises(KeyError):
        net.node("nowhere")
    assert net.node_for_room("shibalong-1@chatroom").id == "shibalong-1"
    assert net.node_for_room("hehua@chatroom").id == "hehua"
    assert net.node_for_room("stranger@chatroom") is None
    assert net.parent("shibalong-1").id == "baiyi-b1"
    assert net.parent("jili") is None
    assert [n.id for n in net.ancestors("shibalong-1")] == ["baiyi-b1", "baiyi", "jili"]
    assert net.ancestors("jili") == []
    assert [net.depth(i) for i in ("jili", "hehua", "hehua-b1", "hehua-2")] == [0, 1, 2, 3]


def test_microgrids_and_subtrees(net):
    assert net.is_microgrid("shibalong-3") and net.is_microgrid(net.node("hehua-1"))
    assert not net.is_microgrid("baiyi-b1") and not net.is_microgrid(net.root)
    assert net.subtree_ids("baiyi-b1") == {"baiyi-b1", "shibalong-1", "shibalong-2", "shibalong-3"}
    assert net.subtree_ids("hehua-2") == {"hehua-2"}
    assert len(net.subtree_ids("jili")) == 12
    assert net.subtree_ids("baiyi") is net.subtree_ids("baiyi")   # cached
    ids = [n.id for n in net.nodes()]
    assert len(ids) == 12 and ids[0] == "jili"
    assert ids.index("baiyi") < ids.index("baiyi-b1") < ids.index("shibalong-1")   # parents first
    assert {n.id for n in net.microgrids()} == {"shibalong-1", "shibalong-2", "shibalong-3",
                                                "baiyi-b2-1", "hehua-1", "hehua-2"}


def test_members_of_a_node(net):
    grid = net.node("shibalong-1")
    assert [m.id for m in members_of(grid)] == ["wxid_qiu_huanwu", "wxid_zhou_min"]
    assert role_ids(grid) == {"wxid_qiu_huanwu", "wxid_zhou_min"}
    assert [m.id for m in members_of(net.node("hehua-1"))] == ["wxid_ma_jun"]


def test_member_names_of_heads_and_deputies(net):
    assert net.member_name("wxid_qiu_huanwu") == "邱煥武"
    assert net.member_name("wxid_zhou_min") == "周敏"
    assert net.member_name("wxid_resident_zhang") is None


def test_nodes_led_by_a_member(net):
    assert [n.id for n in net.nodes_led_by("wxid_zhou_min")] == ["shibalong-1"]
    assert net.nodes_led_by("wxid_resident_zhang") == []


def test_members_by_name_as_seen_from_a_group(net):
    branch, grid = net.node("baiyi-b1"), net.node("shibalong-1")
    assert [m.id for m in net.members_named("刘建国", branch)] == ["wxid_liu_jianguo"]  # below
    assert [m.id for m in net.members_named("王国强", grid)] == ["wxid_wang_guoqiang"]  # above
    assert net.members_named("刘建国", grid) == []                    # a sibling's head
    assert net.members_named("马军", branch) == []                    # another community


def test_nodes_can_be_kept_in_sets(net):
    assert len({net.node("jili"), net.node("jili"), net.node("baiyi")}) == 2


# ---- which micro-grid covers a place ------------------------------------------------------


def test_a_microgrid_answers_for_itself_only(net):
    assert covering(net, "shibalong-1", "1") == "shibalong-1"
    assert covering(net, "shibalong-1", "4", "2") == "shibalong-1"
    assert covering(net, "shibalong-1", "5") is None
    assert covering(net, "hehua-1", "1") == "hehua-1"


def test_a_branch_finds_its_microgrid(net):
    assert covering(net, "baiyi-b1", "7") == "shibalong-2"
    assert covering(net, "baiyi-b1", "10", "1") == "shibalong-3"
    assert covering(net, "baiyi-b1", "11") is None        # under the other branch
    assert covering(net, "baiyi-b2", "11") == "baiyi-b2-1"


def test_a_village_finds_microgrids_in_all_its_branches(net):
    assert covering(net, "baiyi", "1") == "shibalong-1"
    assert covering(net, "baiyi", "12") == "baiyi-b2-1"
    assert covering(net, "hehua", "1") == "hehua-1"
    assert covering(net, "hehua", "4", "1") == "hehua-2"
    assert covering(net, "hehua", "5") is None


def test_the_same_building_number_in_two_communities_is_ambiguous_at_the_township(net):
    assert covering(net, "jili", "1") is None
    assert covering(net, "jili", "3", "2") is None
    assert covering(net, "jili", "7") == "shibalong-2"    # only 百宜 has a 7栋
    assert covering(net, "jili", "11", "1") == "baiyi-b2-1"


def test_a_building_split_by_unit(net):
    assert covering(net, "baiyi-b1", "8", "1") == "shibalong-2"
    assert covering(net, "baiyi-b1", "8", "2") == "shibalong-2"
    assert covering(net, "baiyi-b1", "8", "3") == "shibalong-3"
    assert covering(net, "jili", "8", "4") == "shibalong-3"
    assert covering(net, "baiyi-b1", "8", "5") is None      # nobody covers unit 5
    assert covering(net, "baiyi-b1", "8") is None           # no unit: two candidates
    assert covering(net, "shibalong-2", "8") == "shibalong-2"   # only it, from its own group
    assert covering(net, "shibalong-2", "8", "3") is None


def test_no_unit_finds_the_single_microgrid_covering_part_of_a_building():
    data = {"levels": ["branch", "microgrid"], "network": _node("b", "branch", [
        _node("g1", "microgrid", covers=["3栋1-2单元"]),
        _node("g2", "microgrid", covers=["4栋"]),
    ])}
    net = Network(parse_config(data))
    assert covering(net, "b", "3") == "g1"
    assert covering(net, "b", "3", "1") == "g1"
    assert covering(net, "b", "3", "3") is None


def test_a_whole_building_here_and_a_unit_there_is_ambiguous_above_both():
    data = {"levels": ["village", "branch", "microgrid"], "network": _node("v", "village", [
        _node("b1", "branch", [_node("g1", "microgrid", covers=["5栋"])]),
        _node("b2", "branch", [_node("g2", "microgrid", covers=["5栋2单元"])]),
    ])}
    net = Network(parse_config(data))
    assert covering(net, "v", "5", "2") is None
    assert covering(net, "v", "5", "1") == "g1"     # unit 1 is only g1's
    assert covering(net, "v", "5") is None
    assert covering(net, "b2", "5", "2") == "g2"
    assert covering(net, "b1", "5", "2") == "g1"


def test_an_unknown_node_is_a_key_error(net):
    with pytest.raises(KeyError):
        net.microgrid_covering("nowhere", "1", None)


def _node(id: str, level: str, children=(), covers=()) -> dict:
    return {"id": id, "level": level, "name": id, "group": {"room": f"{id}@chatroom", "name": id},
            "head": {"id": f"wxid_{id}", "name": id}, "children": list(children), "covers": list(covers)}


def test_it_scales_to_liuyang_32000_microgrids():
    # city → 40 townships → 20 communities → 4 branches → 10 micro-grids, each community with
    # its own 1栋…40栋: every building number recurs 800 times across the city.
    towns = []
    for t in range(40):
        villages = []
        for v in range(20):
            branches = [_node(f"b{t}.{v}.{b}", "branch", [
                _node(f"g{t}.{v}.{b}.{g}", "microgrid",
                      covers=[f"{b * 10 + g + 1}栋1-2单元", f"{b * 10 + g + 1}栋3单元"])
                for g in range(10)]) for b in range(4)]
            villages.append(_node(f"v{t}.{v}", "village", branches))
        towns.append(_node(f"t{t}", "township", villages))
    config = parse_config({"levels": ["city", "township", "village", "branch", "microgrid"],
                           "network": _node("liuyang", "city", towns)})
    net = Network(config)
    assert sum(1 for _ in net.microgrids()) == 32_000
    assert covering(net, "v39.19", "40", "3") == "g39.19.3.9"
    assert covering(net, "v39.19", "40") == "g39.19.3.9"
    assert covering(net, "b0.0.0", "1", "2") == "g0.0.0.0"
    assert covering(net, "t5", "1", "1") is None
    assert covering(net, "liuyang", "40") is None
    assert [n.id for n in net.ancestors("g7.3.2.1")] == ["b7.3.2", "v7.3", "t7", "liuyang"]
    assert net.node_for_room("g12.1.1.1@chatroom").id == "g12.1.1.1"
    assert len(net.subtree_ids("t3")) == 1 + 20 * (1 + 4 * 11)


# ---- whom an @-mention names ------------------------------------------------------------------

@pytest.mark.parametrize("written, member_id", [
    ("周敏", "wxid_zhou_min"), ("周敏请跟进", "wxid_zhou_min"), ("周敏 请跟进", "wxid_zhou_min"),
    ("4栋楼长周敏", "wxid_zhou_min"), ("邱焕武", "wxid_qiu_huanwu"), ("网格长-邱煥武", "wxid_qiu_huanwu"),
    ("邱师傅", "wxid_qiu_huanwu"), ("老邱", "wxid_qiu_huanwu"), ("王书记", "wxid_wang_guoqiang"),
    ("马军", None), ("不存在的人", None), ("邱", None),
])
def test_a_mention_resolves_among_the_addressable(network, written, member_id):
    mention = network.resolve_mention(written, network.node("shibalong-1"))
    assert [m.id for m in mention.members] == ([member_id] if member_id else [])


def test_a_name_seen_in_use_and_mention_ids(network):
    grid = network.node("shibalong-1")
    seen = {fold_name("敏姐-物业对接"): ["wxid_zhou_min"], fold_name("阿马"): ["wxid_ma_jun"]}
    assert [m.id for m in network.resolve_mention("敏姐-物业对接", grid, seen).members] == ["wxid_zhou_min"]
    assert network.resolve_mention("阿马", grid, seen).members == ()   # another community's head
    assert [m.id for m in network.members_with_ids(
        ["wxid_resident", "wxid_zhou_min", "wxid_ma_jun", "wxid_zhou_min"], grid)] == ["wxid_zhou_min"]
    assert fold_name("Amy\u3000周") == fold_name(" amy 周 ") == "amy 周"
