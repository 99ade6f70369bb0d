"""The one normalisation step before anything is recognised (flows.normalize)."""

import pytest

from flows.commands import recognize, request_description
from flows.normalize import displayable, is_placeholder_only, reading
from flows.request_parser import parse_request

GATEWAY_EMOJI = '<img class="emoji emoji1f62d" text="_web" src="/zh_CN/htmledition/v2/images/spacer.gif" />'


@pytest.mark.parametrize("typed, read", [
    ("下單 4號樓二單元4樓的燈不亮", "下单 4号楼二单元4楼的灯不亮"),   # traditional → simplified
    ("接單（＃１２）", "接单(#12)"),                                  # full-width forms (NFKC)
    ("下单 🔥🔥3栋2单元有烟味🔥", "下单   3栋2单元有烟味 "),           # emoji read as spaces
    ("下单 3️⃣栋4️⃣楼的灯坏了", "下单 3栋4楼的灯坏了"),               # a keycap is its digit
    ("下单[捂脸]2栋电梯又停了[流泪]", "下单 2栋电梯又停了 "),           # so are WeChat expressions
    (f"下单 {GATEWAY_EMOJI}1栋电梯困人了", "下单  1栋电梯困人了"),    # and gateway markup
    ("三栋二单元三零二的厕所", "三栋二单元302的厕所"),                 # digits spoken one by one
    ("幺五零二房间", "1502房间"),
    ("两三天了，一二楼之间，二十栋", "两三天了,一二楼之间,二十栋"),      # counting words stay
    ("@Amy 周\u2005她住4栋", "@Amy 周\u2005她住4栋"),                # U+2005 still ends a mention
])
def test_reading(typed, read):
    assert reading(typed).text == read


def test_placeholders_are_kept_for_reading_and_say_nothing_in_words():
    assert reading("下单 [图片]").text == "下单 [图片]"
    for text in ("[图片]", " [语音] ", "[视频]🔥", "[图片][捂脸]。"):
        assert is_placeholder_only(text)
    assert not is_placeholder_only("[图片] 4栋门口的垃圾")


def test_gateway_markup_is_shown_as_the_emoji_never_as_markup():
    assert displayable(f"下单 {GATEWAY_EMOJI}1栋电梯困人了") == "下单 😭1栋电梯困人了"
    assert request_description(f"下单 {GATEWAY_EMOJI}1栋电梯困人了") == "1栋电梯困人了"
    assert request_description(f"下单 1栋{GATEWAY_EMOJI}电梯困人了") == "1栋😭电梯困人了"


@pytest.mark.parametrize("text, description", [
    ("下單 4號樓二單元4樓的燈不亮", "4號樓二單元4樓的燈不亮"),   # kept as typed
    ("下单。四栋一单元楼道灯坏了好几天了。", "四栋一单元楼道灯坏了好几天了。"),
    ("下单！！2栋门口有积水", "2栋门口有积水"),
    ("下单[捂脸]2栋电梯又停了", "2栋电梯又停了"),
    ("下单👉2栋车库有积水", "2栋车库有积水"),
    ("下单😡😡 三楼有人吵架", "三楼有人吵架"),
    ("下单[撇嘴]要是家里老人生病了，社区能帮忙送医院吗", "要是家里老人生病了，社区能帮忙送医院吗"),
    ("下单🙏前几天说过的那个喝醉闹事的，现在又在楼下砸门", "前几天说过的那个喝醉闹事的，现在又在楼下砸门"),
    ("@网格小助手下单 4栋2单元楼道灯不亮", "4栋2单元楼道灯不亮"),
    ("@网格小助手\u2005下单 4栋3单元楼道灯不亮", "4栋3单元楼道灯不亮"),
    ("＃下单：５栋漏水", "５栋漏水"),
])
def test_request_forms(text, description):
    assert request_description(text) == description


@pytest.mark.parametrize("text", ["下单了吗？团购今晚截止", "下單了嗎", "我在拼多多下单了一个锅",
                                  "下单 [图片]", "下单[语音]", "下单 [视频]", "下单 🔥🔥", "下单[捂脸]"])
def test_not_requests(text):
    assert not parse_request(text).is_request


@pytest.mark.parametrize("text, building, unit, floor, room", [
    ("下單 4號樓二單元4樓的燈不亮", "4", "2", "4", None),
    ("下单 3️⃣栋4️⃣楼的灯坏了[流泪][流泪]", "3", None, "4", None),
    ("下单我家是三栋二单元三零二的厕所漏水漏到楼下了", "3", "2", "3", "302"),
    ("下单 ５号楼１２０１室漏水", "5", None, "12", "1201"),
])
def test_places_read_through_the_normalisation(text, building, unit, floor, room):
    parsed = parse_request(text)
    assert (parsed.building, parsed.unit, parsed.floor, parsed.room) == (building, unit, floor, room)


def test_numbers_after_a_keyword_and_the_text_after_them_as_typed():
    command = recognize("辦結＃１２ 已經修好了")
    assert command.keyword == "办结"
    assert command.ticket_number() == (12, "已經修好了")
