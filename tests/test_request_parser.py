"""The request parser: category, urgency and location of a 下单 request (design §5)."""

from dataclasses import replace
from pathlib import Path

import pytest

from flows.request_parser import (CATEGORIES, LexiconError, ParsedRequest, analyse, load_lexicon,
                                  parse_request)

LOCATION_KEYS = ("building", "unit", "floor", "room")


def location(text):
    parsed = analyse(text)
    return tuple(getattr(parsed, key) for key in LOCATION_KEYS)


def test_the_seed_request():
    parsed = parse_request("下单 4号楼二单元4楼的灯不亮")
    assert parsed.as_dict() == {
        "is_request": True, "category": "repair", "urgent": False, "building": "4", "unit": "2",
        "floor": "4", "room": None, "description": "4号楼二单元4楼的灯不亮",
    }


def test_a_long_request_with_a_courtesy_tail():
    parsed = parse_request("下单 26号楼二单元大厅前地漏砖出现破损，麻烦社区帮忙协调处理")
    assert (parsed.is_request, parsed.category, parsed.urgent) == (True, "repair", False)
    assert (parsed.building, parsed.unit, parsed.floor, parsed.room) == ("26", "2", None, None)
    assert parsed.description == "26号楼二单元大厅前地漏砖出现破损，麻烦社区帮忙协调处理"


@pytest.mark.parametrize("text,expected", [
    ("3栋门禁坏了", ("3", None, None, None)),
    ("15幢屋顶漏雨", ("15", None, None, None)),
    ("七号楼电梯停运", ("7", None, None, None)),
    ("二十号楼楼道灯不亮", ("20", None, None, None)),
    ("十一栋门口积水", ("11", None, None, None)),
    ("17#楼电梯坏了", ("17", None, None, None)),
    ("第5幢路灯不亮", ("5", None, None, None)),
    ("A区3号楼楼道脏", ("3", None, None, None)),
    ("B座电梯坏了", (None, None, None, None)),            # a letter names no building number
    ("3座2单元楼道灯不亮", ("3", "2", None, None)),        # N座 is a building
    ("屋后堆成一座小山", (None, None, None, None)),       # 一座 counts hills
    ("四楼到六楼灯不亮", (None, None, None, None)),         # a range of floors is no floor
    ("有人一层一层拧门把手", (None, None, None, None)),
    ("楼上1501天天剁骨头", (None, None, "15", "1501")),    # a room, then what happens there
    ("地址：2-3-201", ("2", "3", "2", "201")),
    ("1201家门口已经进水了", (None, None, "12", "1201")),
    ("502天花板掉了一块", (None, None, "5", "502")),
    ("3单元402家的门锁有人在撬", (None, "3", "4", "402")),
    ("302厨房地上已经一层水了", (None, None, "3", "302")),
    ("2号座楼顶漏水", ("2", None, None, None)),
    ("3座位的车乱停", (None, None, None, None)),           # 座位 counts seats
    ("４号楼３单元６楼灯不亮", ("4", "3", "6", None)),  # full-width digits
    ("二单元门禁坏了", (None, "2", None, None)),
    ("3单元门口垃圾没人清", (None, "3", None, None)),
    ("六楼楼道灯不亮", (None, None, "6", None)),
    ("4楼走廊灯不亮", (None, None, "4", None)),
    ("4层消防栓漏水", (None, None, "4", None)),
    ("1102室漏水", (None, None, "11", "1102")),
    ("302室天花板渗水", (None, None, "3", "302")),
    ("502漏水", (None, None, "5", "502")),
    ("3栋2单元1102卫生间漏水", ("3", "2", "11", "1102")),
    ("5栋8楼803室门锁坏了", ("5", None, "8", "803")),  # a written floor is kept
    ("2-1-302 楼上噪音", ("2", "1", "3", "302")),
    ("2－1－302室漏水", ("2", "1", "3", "302")),
])
def test_location_forms(text, expected):
    assert location(text) == expected


@pytest.mark.parametrize("text", [
    "三天没人清垃圾",
    "晚上12点还在装修",
    "水管漏了两天了",
    "六楼以上都没水",
    "1个多月了没人管",
    "打电话13812345678没人接",
    "2024年申请的补贴还没到",
    "交了200元押金不退",
    "报警打了110还没来",
    "同一楼层好几户停电",
    "两栋楼之间的路灯不亮",
    "负一层车库漏水",
    "这栋楼有6层高",
    "2024-05-06 以后一直停水",
])
def test_numbers_that_are_not_places(text):
    assert location(text) == (None, None, None, None)


@pytest.mark.parametrize("text,category", [
    ("小区门口路灯不亮", "repair"),
    ("厨房水管爆了", "repair"),
    ("3栋电梯停运了", "repair"),
    ("单元门禁坏了进不去", "repair"),
    ("顶楼屋顶漏雨", "repair"),
    ("卫生间漏水", "repair"),  # 卫生间 is a room, not hygiene
    ("路灯不亮什么时候修", "repair"),  # a question about a fault is still the fault
    ("楼道里有很浓的煤气味", "safety"),
    ("楼道电线裸露", "safety"),
    ("消防通道堵塞", "safety"),
    ("高空坠物差点砸到人", "safety"),
    ("有人飞线充电", "safety"),
    ("电梯停运里面有人被困", "safety"),  # a tie: the hazard outranks the fault
    ("垃圾没人清", "sanitation"),
    ("下水道堵了很臭", "sanitation"),
    ("楼道脏得很", "sanitation"),
    ("地下室老鼠多", "sanitation"),
    ("楼上噪音扰民", "dispute"),
    ("邻里纠纷需要调解", "dispute"),
    ("老板欠薪三个月", "dispute"),
    ("宅基地边界有争议", "dispute"),
    ("网购退货不退款", "dispute"),
    ("电动车被偷了", "security"),
    ("接到诈骗电话", "security"),
    ("小区里有可疑人员", "security"),
    ("有人撬门", "security"),
    ("楼下乱停车", "order"),
    ("小区门口占道经营", "order"),
    ("楼顶有违建", "order"),
    ("电梯里贴满小广告", "order"),
    ("流浪狗咬人", "order"),
    ("独居老人生病没人照顾", "care"),
    ("行动不便需要送餐", "care"),
    ("困难户需要帮扶", "care"),
    ("老人走失了", "care"),
    ("帮忙开证明", "service"),
    ("补办社保卡", "service"),
    ("我要申请补贴", "service"),
    ("老人行动不便请上门认证", "service"),  # design §5 lists 上门认证 as a service, done at home
    ("孩子暑期班报名", "service"),
    ("居住证怎么办理", "consult"),
    ("疫苗什么时候到", "consult"),
    ("申请补贴需要什么条件", "consult"),
    ("建议增设健身器材", "suggestion"),
    ("希望多组织老年活动", "suggestion"),
    ("老小区能不能加装电梯", "suggestion"),
])
def test_categories(text, category):
    assert analyse(text).category == category


SHIPPED_FILE = Path(__file__).resolve().parent.parent / "flows" / "lexicon.yaml"


@pytest.mark.parametrize("text, contact, other", [
    ("下单 2栋1单元502厨房水管爆了，{}，家里只有老人", "电话13812345678", "手机 139-0731-8888"),
    ("下单 {} 3栋楼下有人乱停车堵住消防通道", "联系方式138 1234 5678", "电话15973100000"),
    ("下单 4栋1102 漏水 {}", "联系人王先生0731-84561234", "联系人李女士 0731 8888 6666"),
])
def test_contact_details_are_no_evidence(text, contact, other):
    parsed = parse_request(text.format(contact))
    for instead in (other, " "):
        again = parse_request(text.format(instead))
        assert (parsed.category, parsed.urgent) == (again.category, again.urgent)
        assert (parsed.building, parsed.unit, parsed.floor, parsed.room) == (
            again.building, again.unit, again.floor, again.room)


@pytest.mark.parametrize("text,category", [
    ("今天天气不错", "repair"),  # nothing matched: a repair
    ("这个归谁管？", "consult"),  # nothing matched but a question: a consultation
])
def test_fallback_without_a_model(text, category):
    # The lexicon read from a file of one's own (here the shipped one) has no model.
    lexicon = load_lexicon(SHIPPED_FILE)
    assert lexicon.model is None and analyse(text, lexicon).category == category


def test_the_shipped_lexicon_reads_through_the_shipped_model():
    shipped = load_lexicon()
    assert shipped.model is not None
    text = "河边有人私自挖沙"  # no keyword of any category
    read = shipped.model.read(text, shipped.cues)
    assert analyse(text, shipped).category == read.category
    assert analyse(text, shipped).urgent == read.urgent


@pytest.mark.parametrize("urgent,calm", [
    ("厨房有煤气味", "之前有煤气味，已经处理好了"),
    ("楼下正在打架", "昨天楼下有人打架"),
    ("电梯困人了", "电梯停运了"),
    ("老人走失了", "老人走失，昨天已经找到了"),
    ("水管爆了，水漫到楼道", "水龙头滴水"),
    ("阳台花盆快掉下来了", "楼道墙皮脱落"),
    ("有人把电动车推进电梯", "电动车乱停"),
    ("楼道冒烟", "楼道没有煤气味了"),  # a negated cue is not one
    ("有人在撬门", "垃圾没人清"),
])
def test_urgency(urgent, calm):
    assert analyse(urgent).urgent is True
    assert analyse(calm).urgent is False


@pytest.mark.parametrize("text", [
    "#下单 3栋门禁坏了", "＃下单 3栋门禁坏了", "【下单】3栋门禁坏了", "下单：3栋门禁坏了", "下单，3栋门禁坏了",
    "下单\u30003栋门禁坏了",
])
def test_command_forms(text):
    parsed = parse_request(text)
    assert (parsed.is_request, parsed.category, parsed.building) == (True, "repair", "3")
    assert parsed.description == "3栋门禁坏了"


@pytest.mark.parametrize("text", [
    "下单了吗？团购今晚截止", "我在拼多多下单了一个锅", "群里接龙下单", "收到", "接单 #3", "", "   ",
    "下单", "#下单", "【下单】", "下单：",  # bare: the caller shows a usage hint
])
def test_not_a_request(text):
    assert parse_request(text).as_dict() == {
        "is_request": False, "category": None, "urgent": None, "building": None, "unit": None,
        "floor": None, "room": None, "description": None,
    }


def test_as_dict_key_order():
    keys = ["is_request", "category", "urgent", "building", "unit", "floor", "room", "description"]
    assert list(parse_request("下单 302漏水").as_dict()) == keys
    assert list(parse_request("收到").as_dict()) == keys


def test_analyse_is_the_description_part_of_parse_request():
    assert analyse("3栋2单元门禁坏了") == parse_request("下单 3栋2单元门禁坏了")
    assert analyse("  ") == ParsedRequest(is_request=False)


def test_the_default_lexicon_is_loaded_once_and_covers_every_category():
    lexicon = load_lexicon()
    assert load_lexicon() is lexicon
    assert set(lexicon.categories) == set(lexicon.priority) == set(CATEGORIES)
    assert all(lexicon.categories[code] for code in CATEGORIES)


def test_an_override_adds_keywords():
    text = "楼道里放着一个旧鸟笼"
    lexicon = load_lexicon(overrides={"categories": {"safety": ["鸟笼"]}, "urgent": ["鸟笼"]})
    assert "鸟笼" in lexicon.categories["safety"] and lexicon.model is not None
    # Keywords alone (the character model set aside): the added word decides.
    assert analyse(text, replace(lexicon, model=None)).category == "safety"
    assert analyse(text, lexicon).urgent is True
    assert parse_request("下单 " + text, lexicon).urgent is True
    # the shared default is untouched
    assert analyse(text, replace(load_lexicon(), model=None)).category == "repair"
    assert analyse(text).urgent is False
    assert "鸟笼" not in load_lexicon().categories["safety"]


@pytest.mark.parametrize("overrides,problem", [
    ({"categories": {"plumbing": ["水管"]}}, "overrides.categories.plumbing: unknown category"),
    ({"categories": {"repair": ["垃圾"]}}, "'垃圾' is also in categories"),
    ({"fallback": "consult"}, "overrides.fallback"),
    ({"urgent": "马蜂窝"}, "overrides.urgent"),
    ({"urgent": [""]}, "urgent[")
])
def test_a_bad_override_is_refused(overrides, problem):
    with pytest.raises(LexiconError, match=problem.replace("[", r"\[")):
        load_lexicon(overrides=overrides)


def test_a_lexicon_file_with_problems_names_each_of_them(tmp_path):
    path = tmp_path / "lexicon.yaml"
    path.write_text("categories:\n  repair: [坏了]\n  weather: [下雨]\npriority: [repair]\n"
                    "fallback: repair\nquestion_fallback: nothing\nsynonyms: []\n",
                    encoding="utf-8")
    with pytest.raises(LexiconError) as refused:
        load_lexicon(path)
    problems = str(refused.value).splitlines()
    assert "synonyms: unknown key" in problems
    assert "categories.weather: unknown category" in problems
    assert "categories.safety: missing" in problems
    assert any(line.startswith("priority:") for line in problems)
    assert any(line.startswith("question_fallback:") for line in problems)


def test_a_lexicon_file_of_ones_own(tmp_path):
    path = tmp_path / "lexicon.yaml"
    categories = "\n".join(f"  {code}: [{code}词]" for code in CATEGORIES)
    path.write_text(f"categories:\n{categories}\npriority: [{', '.join(CATEGORIES)}]\n"
                    "fallback: service\nquestion_fallback: consult\nurgent: [着火]\n",
                    encoding="utf-8")
    lexicon = load_lexicon(path)
    assert analyse("灯不亮", lexicon).category == "service"
    assert analyse("dispute词 着火了", lexicon).category == "dispute"
    assert analyse("dispute词 着火了", lexicon).urgent is True
