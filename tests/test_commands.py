"""Recognising commands in message text."""

import pytest

from flows.commands import (find_ticket_reference, mentioned_names, rating_reply, recognize,
                            request_description, split_quote, without_mentions)


@pytest.mark.parametrize("text,keyword,rest", [
    ("下单 4号楼二单元4楼的灯不亮", "下单", "4号楼二单元4楼的灯不亮"),
    ("#下单 楼道灯坏了", "下单", "楼道灯坏了"),
    ("＃下单 楼道灯坏了", "下单", "楼道灯坏了"),
    ("【下单】楼道灯坏了", "下单", "楼道灯坏了"),
    ("下单：漏水", "下单", "漏水"),
    ("下单:漏水", "下单", "漏水"),
    ("下单，漏水", "下单", "漏水"),
    ("下单\u3000漏水", "下单", "漏水"),
    ("  下单 漏水  ", "下单", "漏水"),
    ("下单", "下单", ""),
    ("接单", "接单", ""),
    ("@邱煥武\u2005接单", "接单", ""),
    ("办结＃12 已修好", "办结", "＃12 已修好"),
    ("下单楼道灯坏了", "下单", "楼道灯坏了"),          # typed with no space at all
    ("#下单小区门口积水", "下单", "小区门口积水"),
])
def test_recognized(text, keyword, rest):
    command = recognize(text)
    assert command is not None
    assert (command.keyword, command.rest) == (keyword, rest)


@pytest.mark.parametrize("text", [
    "收到", "谢谢网格长", "下单了吗？团购今晚截止", "我在拼多多下单了一个锅", "群里接龙下单",
    "接单了", "办结了吗", "", "   ",
    "下单了下单了", "下单的米到了没", "下单员在吗", "下单买菜", "下单吧", "接单啦",
])
def test_chatter_is_not_a_command(text):
    assert recognize(text) is None


@pytest.mark.parametrize("text,number,rest", [
    ("接单 #12", 12, ""), ("接单#3", 3, ""), ("接单 12", 12, ""), ("接单 ＃12", 12, ""),
    ("接单 第12号", 12, ""), ("查询 １２", 12, ""), ("办结 #1 已修好", 1, "已修好"),
    ("评价 #1：满意", 1, "满意"),
    ("办结 3号楼灯修好了", None, "3号楼灯修好了"),  # a place, not a ticket number
    ("办结 12栋灯修好了", None, "12栋灯修好了"),
])
def test_ticket_number(text, number, rest):
    assert recognize(text).ticket_number() == (number, rest)


def test_ticket_reference_in_a_quoted_notice():
    assert find_ticket_reference("已受理 #7【报修】4号楼") == 7
    assert find_ticket_reference("已受理 ＃１２") == 12
    assert find_ticket_reference("没有单号") is None


def test_request_description():
    assert request_description("下单 楼道灯坏了") == "楼道灯坏了"
    assert request_description("下单") == ""
    assert request_description("接单") is None
    assert request_description("下单了吗？") is None


# ---- quotes, mentions, ratings by reply --------------------------------------------------------

QUOTE_LINE = "- - - - - - - - - - - - - - -"


def test_a_wechat_quote_is_split_from_the_reply():
    text = f"「网格小助手：@邱煥武 已受理 #3【报修】\n内容：灯不亮」\n{QUOTE_LINE}\n接单"
    assert split_quote(text) == ("网格小助手：@邱煥武 已受理 #3【报修】\n内容：灯不亮", "接单")
    assert split_quote("接单 #3") == (None, "接单 #3")
    assert split_quote("「我说的」没有分隔线") == (None, "「我说的」没有分隔线")


@pytest.mark.parametrize("text, names", [
    ("转派 #1 @周敏\u2005请跟进", ["周敏"]),
    ("派单 #1 @邱煥武 @周敏", ["邱煥武", "周敏"]),
    ("派单 #1 @周敏", ["周敏"]),
    ("@周敏\u2005@周敏\u2005", ["周敏"]),
    ("发到 wang@example.cn 了", []),
    ("没有人", []),
])
def test_mentioned_names(text, names):
    assert mentioned_names(text) == names


def test_text_without_its_mentions():
    assert without_mentions("@周敏\u2005请上门看看") == "请上门看看"


def test_a_rating_that_replies_to_a_notice_is_a_rating():
    notice = "网格小助手：#7 已办结：已修好"
    command = rating_reply("不满意 还是不亮", notice)
    assert (command.keyword, command.rest) == ("评价", "不满意 还是不亮")
    assert rating_reply("满意", None) is None                 # no quote: chatter
    assert rating_reply("满意", "张阿姨：今天天气好") is None  # quotes no ticket
    assert rating_reply("谢谢", notice) is None
