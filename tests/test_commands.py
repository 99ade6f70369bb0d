"""Recognising commands in message text."""

import pytest

from flows.commands import (find_ticket_reference, mention_spans, rating_reply, read_rating,
                            recognize, recognize_in_sentence, request_description, split_quote)


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


def test_a_rating_that_replies_to_a_notice_is_a_rating():
    notice = "网格小助手：#7 已办结：已修好"
    command = rating_reply("不满意 还是不亮", notice)
    assert (command.keyword, command.rest) == ("评价", "不满意 还是不亮")
    assert rating_reply("满意", None) is None                 # no quote: chatter
    assert rating_reply("满意", "张阿姨：今天天气好") is None  # quotes no ticket
    assert rating_reply("谢谢", notice) is None


# ---- a head's command inside a short sentence, several numbers, ratings in own words ----------



@pytest.mark.parametrize("text, keyword, numbers", [
    ("收到，接单", "接单", ()), ("好的，我接单了", "接单", ()), ("我来接单", "接单", ()),
    ("接单了", "接单", ()), ("我已经接单了", "接单", ()), ("好嘞，我接单了，马上去看", "接单", ()),
    ("#1已办结", "办结", (1,)), ("1号单办结了", "办结", (1,)), ("我来接单 #2", "接单", (2,)),
    ("我來接單", "接单", ()), ("收到👍接单", "接单", ()), ("@网格小助手 我来接单", "接单", ()),
])
def test_a_command_in_a_sentence(text, keyword, numbers):
    command = recognize_in_sentence(text)
    assert command is not None and command.in_sentence
    assert (command.keyword, command.ticket_numbers()[0]) == (keyword, numbers)


@pytest.mark.parametrize("text", [
    "接单了吗？", "谁来接单", "还没接单", "我不接单", "有人接单吗", "接单了，谁负责？", "下单了吗",
    "我在拼多多下单了一个锅", "好的，下单", "接单", "收到", "我来下单", "明天再办结",
    "好的，我接单了，今天下午过去看看然后再联系物业一起处理",
])
def test_not_a_command_in_a_sentence(text):
    assert recognize_in_sentence(text) is None


@pytest.mark.parametrize("text, numbers, rest", [
    ("接单（#1）", (1,), ""), ("接单 2号单", (2,), ""), ("办结#1。已修好", (1,), "已修好"),
    ("接单 #1 #2", (1, 2), ""), ("办结 #1、#2 都处理好了", (1, 2), "都处理好了"),
    ("接单 #1和#2", (1, 2), ""), ("接单 1 2", (1, 2), ""), ("接单【#3】", (3,), ""),
    ("接单 #1 #2 #1", (1, 2), ""), ("办结 #1 3个灯都换了", (1,), "3个灯都换了"),
    ("办结 #1 2楼修好了", (1,), "2楼修好了"), ("办结 3号楼灯修好了", (), "3号楼灯修好了"),
    ("办结 2单元灯修好了", (), "2单元灯修好了"), ("办结 #1，#2：换了灯泡👍", (1, 2), "换了灯泡👍"),
])
def test_ticket_numbers(text, numbers, rest):
    assert recognize(text).ticket_numbers() == (numbers, rest)


@pytest.mark.parametrize("text, rating, words, comment", [
    ("非常满意，谢谢网格长", "满意", "非常满意", "谢谢网格长"), ("很满意", "满意", "很满意", ""),
    ("满意谢谢", "满意", "满意", "谢谢"), ("還行吧", "基本满意", "还行", ""),
    ("一般", "基本满意", "一般", ""), ("不太满意 灯还是闪", "不满意", "不太满意", "灯还是闪"),
    ("很不满意！", "不满意", "很不满意", ""), ("满意👍", "满意", "满意", ""), ("满意👍谢谢", "满意", "满意", "谢谢"),
])
def test_ratings_in_own_words(text, rating, words, comment):
    found = read_rating(text)
    assert (found.rating, found.words, found.comment) == (rating, words, comment)


@pytest.mark.parametrize("text", ["一般来说", "还好有网格长", "满意吗", "谢谢", "我不满意", ""])
def test_not_a_rating(text):
    assert read_rating(text) is None


def test_a_question_is_not_taken_for_a_rating_reply():
    assert rating_reply("满意吗？", "网格小助手：#7 已办结") is None
    assert rating_reply("还行吧，谢谢", "网格小助手：#7 已办结").keyword == "评价"


def test_mention_spans_end_where_wechat_ends_them():
    assert mention_spans("转派 #1 @Amy 周\u2005她住4栋方便") == ["Amy 周"]
    assert mention_spans("转派 #1 @周敏请跟进") == ["周敏请跟进"]
    assert mention_spans("派单 #1 @邱煥武\u2005@周敏\u2005") == ["邱煥武", "周敏"]
    assert mention_spans("发到 wang@example.cn 了") == []
    assert mention_spans("派单 #1 ＠邱煥武\u2005＠周敏") == ["邱煥武", "周敏"]   # full-width
