"""Recognising commands in message text."""

import pytest

from flows.commands import find_ticket_reference, recognize, request_description


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
])
def test_recognized(text, keyword, rest):
    command = recognize(text)
    assert command is not None
    assert (command.keyword, command.rest) == (keyword, rest)


@pytest.mark.parametrize("text", [
    "收到", "谢谢网格长", "下单了吗？团购今晚截止", "我在拼多多下单了一个锅", "群里接龙下单",
    "接单了", "办结了吗", "", "   ",
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
