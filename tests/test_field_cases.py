"""Commands as people type them: the field cases of real group traffic, and variants of each kind.

Each field case's input lines are copied here and played as `gridbot chat` plays them (JSON Lines
through the bot, the shipped config.yaml, a fresh database); the assertions say what a user
expects. The variants check the same kind of fault with other punctuation, other sentence
wrappers, other rating words, traditional forms and other emoji.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from chat_script import (BRANCH, BRANCH_HEAD, DEPUTY, GRID, HEAD, LI, ZHANG, chat, kinds,
                         order, quoting, replies, say, shipped_config_with, tickets)
from flows import texts
from models.tables import MemberName, Status, TicketEvent


# ---- 01: a claim however the head phrases it ---------------------------------------------------

CASE_01 = [
    {"id": "a1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 4号楼二单元4楼的灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "a2", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单！", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "a3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "我来接单", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "a6", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "好的，我接单了", "at": "2026-11-24T09:05:00+08:00"},
    {"id": "a7", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "查询 #1", "at": "2026-11-24T09:06:00+08:00"},
]


async def test_case_01_claim_variants(db, config):
    posts = await chat(db, config, CASE_01)
    assert replies(posts, "a2") == [texts.CLAIMED.format(number=1, handler="邱煥武")]
    # Said again in other words: never silence; the head is told it is theirs already.
    assert replies(posts, "a3") == [texts.ALREADY_YOURS.format(number=1)]
    assert replies(posts, "a6") == [texts.ALREADY_YOURS.format(number=1)]
    assert kinds(db, 1) == ["created", "claimed"]
    [query] = replies(posts, "a7")
    assert "状态：处理中（邱煥武）" in query


@pytest.mark.parametrize("text", [
    "接单！", "接单!", "接单。", "接单~", "接单～", "接单…", "接单👌", "接单[OK]", "接單！",
    "我来接单", "我來接單", "好的，我接单了", "好的,我接单了", "好的 我接单了", "收到，接单", "收到！接单",
    "收到👍接单", "收到[强]接单", "嗯嗯，我来接单", "OK，我接单", "ok接单", "我接单吧", "接单了",
    "我已经接单了", "马上接单", "好嘞，我接单了，马上去看", "@网格小助手 我来接单", "@网格小助手接单",
    "【接单】", "#接单",
])
async def test_a_head_claims_however_phrased(db, config, text):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, text, "邱煥武")])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="邱煥武")]
    assert tickets(db)[0].status == Status.CLAIMED


@pytest.mark.parametrize("text", [
    "接单了吗？", "接单了吗", "谁来接单", "谁来接单？", "还没接单", "我不接单", "有人接单吗", "什么时候接单",
    "怎么接单", "接单了，谁负责？", "网格长接单了没", "收到", "谢谢网格长", "好的", "下单了吗", "等会再接单",
    "别接单", "接单的人呢",
])
async def test_questions_and_chatter_about_claims_stay_silent(db, config, text):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, text, "邱煥武"),
                                    say("c2", ZHANG, text, "张阿姨")])
    assert replies(posts, "c1") == [] and replies(posts, "c2") == []
    assert tickets(db)[0].status == Status.OPEN


@pytest.mark.parametrize("text", ["好的，我接单了", "我来接单", "收到，接单", "接单了"])
async def test_a_resident_saying_a_claim_in_a_sentence_is_talk(db, config, text):
    posts = await chat(db, config, [order("o1"), say("c1", LI, text, "李叔叔")])
    assert replies(posts, "c1") == []
    assert tickets(db)[0].status == Status.OPEN


async def test_a_claim_in_a_sentence_with_two_waiting_asks_which(db, config):
    posts = await chat(db, config, [order("o1"), order("o2", "下单 3栋门口下水道堵了", LI),
                                    say("c1", HEAD, "好的，我来接单", "邱煥武"),
                                    say("c2", HEAD, "收到，接单 #2", "邱煥武"),
                                    say("c3", HEAD, "#1我来接单", "邱煥武")])
    assert replies(posts, "c1") == [texts.SEVERAL_WAITING.format(count=2, numbers="#1、#2")]
    assert replies(posts, "c2") == [texts.CLAIMED.format(number=2, handler="邱煥武")]
    assert replies(posts, "c3") == [texts.CLAIMED.format(number=1, handler="邱煥武")]


async def test_a_resolution_in_a_sentence(db, config):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, "接单", "邱煥武"),
                                    say("r0", HEAD, "都办结了", "邱煥武"),
                                    say("r1", HEAD, "好的，办结 #1 已换灯泡", "邱煥武")])
    assert replies(posts, "r0") == [texts.NUMBER_NEEDED.format(example=texts.EXAMPLES["办结"])]
    [resolved] = replies(posts, "r1")
    assert resolved.startswith("#1 已办结：已换灯泡")


# ---- 02: voice input puts a full stop after the keyword ----------------------------------------

CASE_02 = [
    {"id": "b1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单我家是三栋二单元三零二的厕所漏水漏到楼下了麻烦尽快派人来看一下", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "b2", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单。四栋一单元楼道灯坏了好几天了。", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "b3", "room": GRID, "sender": "wxid_wang", "name": "王奶奶", "text": "下单二栋门口的垃圾三天没人清理了臭得很", "at": "2026-11-24T09:02:00+08:00"},
]


async def test_case_02_voice_input(db, config):
    posts = await chat(db, config, CASE_02)
    for message_id, number in (("b1", 1), ("b2", 2), ("b3", 3)):
        [notice] = replies(posts, message_id)
        assert notice.startswith(f"已受理 #{number}")
    first, second, third = tickets(db)
    assert (first.building, first.unit, first.room) == ("3", "2", "302")
    assert (second.building, second.unit) == ("4", "1")
    assert third.building == "2"


@pytest.mark.parametrize("text", ["下单。四栋一单元楼道灯坏了", "下单！四栋一单元楼道灯坏了",
                                  "下单…四栋一单元楼道灯坏了", "下单～四栋一单元楼道灯坏了",
                                  "下单；四栋一单元楼道灯坏了", "下单?四栋一单元楼道灯坏了"])
async def test_any_punctuation_after_the_order_keyword(db, config, text):
    posts = await chat(db, config, [order("o1", text)])
    assert replies(posts, "o1")[0].startswith("已受理 #1")
    assert (tickets(db)[0].building, tickets(db)[0].unit) == ("4", "1")


# ---- 03: traditional characters ----------------------------------------------------------------

CASE_03 = [
    {"id": "c1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下單 4號樓二單元4樓的燈不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "c2", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 4號樓二單元4樓的燈不亮", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "c3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接單", "at": "2026-11-24T09:02:00+08:00"},
]


async def test_case_03_traditional(db, config):
    posts = await chat(db, config, CASE_03)
    assert [t.building for t in tickets(db)][:1] == ["4"]
    assert (tickets(db)[0].unit, tickets(db)[0].floor) == ("2", "4")
    assert replies(posts, "c1")[0].startswith("已受理 #1【报修】4号楼2单元4楼")
    # 接單 is 接单: with two tickets waiting (the repeat is another part of the work), it asks
    # which one rather than staying silent.
    assert replies(posts, "c3") != []


@pytest.mark.parametrize("text", ["接單", "接單 #1", "接單（#1）", "我來接單", "好的，我接單了", "收到，接單"])
async def test_traditional_claims(db, config, text):
    posts = await chat(db, config, [order("o1", "下單 4號樓二單元4樓的燈不亮"),
                                    say("c1", HEAD, text, "邱煥武")])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="邱煥武")]


@pytest.mark.parametrize("text", ["辦結 #1 已修好", "办结 #1 已修好", "辦結＃1：已修好"])
async def test_traditional_resolution_and_rating(db, config, text):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, "接單", "邱煥武"),
                                    say("r1", HEAD, text, "邱煥武"),
                                    say("v1", ZHANG, "評價 #1 非常滿意", "张阿姨")])
    assert replies(posts, "r1")[0].startswith("#1 已办结：已修好")
    assert replies(posts, "v1") == [texts.RATED.format(number=1, rating="满意")]


# ---- 04: emoji -----------------------------------------------------------------------------------

CASE_04 = [
    {"id": "d1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 🔥🔥3栋2单元楼道里有很大的烟味🔥 快来人", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "d2", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单 3️⃣栋4️⃣楼的灯坏了[流泪][流泪]", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "d3", "room": GRID, "sender": "wxid_wang", "name": "王奶奶", "text": "下单[捂脸]2栋电梯又停了", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "d4", "room": GRID, "sender": "wxid_wang", "name": "王奶奶", "text": "下单 <img class=\"emoji emoji1f62d\" text=\"_web\" src=\"/zh_CN/htmledition/v2/images/spacer.gif\" />1栋电梯困人了", "at": "2026-11-24T09:03:00+08:00"},
    {"id": "d5", "room": GRID, "sender": "wxid_wang", "name": "王奶奶", "text": "下单👉2栋车库有积水", "at": "2026-11-24T09:04:00+08:00"},
]


async def test_case_04_emoji(db, config):
    posts = await chat(db, config, CASE_04)
    for number, message_id in enumerate(("d1", "d2", "d3", "d4", "d5"), start=1):
        [notice] = replies(posts, message_id)
        assert notice.startswith(f"已受理 #{number}")
        assert "<img" not in notice and "emoji" not in notice
    assert [t.building for t in tickets(db)] == ["3", "3", "2", "1", "2"]
    assert tickets(db)[1].floor == "4"


@pytest.mark.parametrize("text", ["接单👍", "👌接单", "接单[OK]", "[抱拳]接单", "收到🙏接单",
                                  "接单<img class=\"emoji emoji1f44c\" />", "好的😊我接单了"])
async def test_claims_with_emoji(db, config, text):
    posts = await chat(db, config, [order("o1", "下单🙏4栋2单元楼道灯不亮"),
                                    say("c1", HEAD, text, "邱煥武")])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="邱煥武")]


# ---- 06: a placeholder is not a description ---------------------------------------------------

CASE_06 = [
    {"id": "f1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "[图片]", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "f2", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 [图片]", "at": "2026-11-24T09:00:30+08:00"},
    {"id": "f3", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单[图片]", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "f4", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单 [语音]", "at": "2026-11-24T09:01:30+08:00"},
    {"id": "f5", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单 [视频]", "at": "2026-11-24T09:01:40+08:00"},
]


async def test_case_06_placeholders_ask_for_words(db, config):
    posts = await chat(db, config, CASE_06)
    assert replies(posts, "f1") == []
    for message_id in ("f2", "f3", "f4", "f5"):
        assert replies(posts, message_id) == [texts.DESCRIBE_IN_WORDS]
    assert tickets(db) == []


@pytest.mark.parametrize("text", ["下单：[图片]", "下单，[图片][图片]", "【下单】[语音]", "#下单 [文件]",
                                  "下单 [图片] 🙏", "下單 [圖片]", "下单 [视频] [捂脸]", "下单　[位置]"])
async def test_placeholder_variants(db, config, text):
    posts = await chat(db, config, [order("o1", text)])
    assert replies(posts, "o1") == [texts.DESCRIBE_IN_WORDS]
    assert tickets(db) == []


async def test_a_placeholder_with_words_is_a_request(db, config):
    posts = await chat(db, config, [order("o1", "下单 [图片] 4栋2单元楼道灯不亮")])
    assert replies(posts, "o1")[0].startswith("已受理 #1")


# ---- 10: a rating in the reporter's own words ---------------------------------------------------

NOTICE = "#1 已办结：换了灯泡\n请回复「评价 #1 满意」「基本满意」或「不满意」。"
CASE_10 = [
    {"id": "j1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 1栋3楼楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "j2", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单", "at": "2026-11-24T09:05:00+08:00"},
    {"id": "j3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "办结 #1 换了灯泡", "at": "2026-11-24T10:00:00+08:00"},
    {"id": "j4", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "「网格小助手：@张阿姨\u2005#1 已办结：换了灯泡\n请回复「评价 #1 满意」「基本满意」或「不满意」。」\n- - - - - - - - - - - - - - -\n非常满意，谢谢网格长", "at": "2026-11-24T10:05:00+08:00"},
    {"id": "j4b", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "「网格小助手：@张阿姨\u2005#1 已办结：换了灯泡\n请回复「评价 #1 满意」「基本满意」或「不满意」。」\n- - - - - - - - - - - - - - -\n很满意", "at": "2026-11-24T10:05:10+08:00"},
    {"id": "j4c", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "满意", "at": "2026-11-24T10:05:20+08:00"},
    {"id": "j5", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "「网格小助手：@张阿姨\u2005#1 已办结：换了灯泡\n请回复「评价 #1 满意」「基本满意」或「不满意」。」\n- - - - - - - - - - - - - - -\n满意", "at": "2026-11-24T10:06:00+08:00"},
]


async def test_case_10_rating_in_own_words(db, config):
    posts = await chat(db, config, CASE_10)
    assert replies(posts, "j4") == [texts.RATED.format(number=1, rating="满意")]
    [ticket] = tickets(db)
    assert (ticket.status, ticket.rating, ticket.rating_comment) == (Status.CLOSED, "满意", "谢谢网格长")
    # Rated already: a quoted rating again is told so, a bare one is talk.
    closed = texts.TICKET_FINISHED.format(number=1, status=texts.STATUS_NAMES["closed"],
                                          action="评价")
    assert replies(posts, "j4b") == [closed] and replies(posts, "j5") == [closed]
    assert replies(posts, "j4c") == []
    assert kinds(db, 1).count("rated") == 1


def resolved_ticket_then(*lines: dict) -> list[dict]:
    return [order("o1", "下单 1栋3楼楼道灯不亮"), say("c1", HEAD, "接单", "邱煥武"),
            say("r1", HEAD, "办结 #1 换了灯泡", "邱煥武"), *lines]


@pytest.mark.parametrize("words, rating", [
    ("满意", "满意"), ("非常满意", "满意"), ("很满意", "满意"), ("十分满意", "满意"), ("挺满意的", "满意"),
    ("特别满意！", "满意"), ("超满意", "满意"), ("满意，谢谢", "满意"), ("好评", "满意"), ("非常滿意", "满意"),
    ("满意👍", "满意"), ("满意[强]", "满意"), ("基本满意", "基本满意"), ("还行", "基本满意"),
    ("还可以吧", "基本满意"), ("一般", "基本满意"), ("一般般", "基本满意"), ("比较满意", "基本满意"),
    ("马马虎虎", "基本满意"), ("还凑合", "基本满意"), ("不满意", "不满意"), ("不太满意", "不满意"),
    ("很不满意", "不满意"), ("非常不满意", "不满意"), ("不怎么满意", "不满意"), ("差评", "不满意"),
    ("還行", "基本满意"), ("不太滿意", "不满意"),
])
@pytest.mark.parametrize("form", ["quoted", "bare", "command"])
async def test_ratings_in_own_words(db, config, words, rating, form):
    text = {"quoted": quoting(NOTICE, words), "bare": words, "command": f"评价 #1 {words}"}[form]
    posts = await chat(db, config, resolved_ticket_then(say("v1", ZHANG, text, "张阿姨")))
    [ticket] = tickets(db)
    assert ticket.rating == rating
    if rating == "不满意":
        assert ticket.status == Status.CLAIMED and replies(posts, "v1")[0].startswith("#1 评价为不满意")
    else:
        assert ticket.status == Status.CLOSED
        assert replies(posts, "v1") == [texts.RATED.format(number=1, rating=rating)]


async def test_a_rating_without_a_number_names_the_one_waiting(db, config):
    posts = await chat(db, config, resolved_ticket_then(say("v1", ZHANG, "评价 非常满意", "张阿姨")))
    assert replies(posts, "v1") == [texts.RATED.format(number=1, rating="满意")]


async def test_a_dissatisfied_comment_reopens_with_the_words_kept(db, config):
    posts = await chat(db, config, resolved_ticket_then(
        say("v1", ZHANG, "不太满意，灯还是一闪一闪的", "张阿姨")))
    assert replies(posts, "v1")[0] == texts.REOPENED.format(
        number=1, handler="邱煥武", comment=texts.REOPENED_COMMENT.format(comment="灯还是一闪一闪的"))
    with db.session() as session:
        rated = session.exec(select(TicketEvent).where(TicketEvent.kind == "rated")).one()
    assert rated.note == "不满意（不太满意） 灯还是一闪一闪的"


@pytest.mark.parametrize("text", ["满意吗？", "一般来说物业都不管", "还好有网格长帮忙", "我对物业很不满意啊，收费那么贵还不干活，"
                                  "天天找不到人，打电话也不接"])
async def test_talk_that_starts_like_a_rating_is_talk(db, config, text):
    posts = await chat(db, config, resolved_ticket_then(say("v1", ZHANG, text, "张阿姨")))
    assert replies(posts, "v1") == []
    assert tickets(db)[0].status == Status.RESOLVED


async def test_a_bare_rating_with_two_to_rate_asks_which(db, config):
    posts = await chat(db, config, [
        order("o1"), order("o2", "下单 3栋门口下水道堵了"),
        say("c1", HEAD, "接单 #1 #2", "邱煥武"), say("r1", HEAD, "办结 #1 #2 已处理", "邱煥武"),
        say("v1", ZHANG, "满意", "张阿姨"), say("v2", ZHANG, "评价 #2 很满意", "张阿姨"),
        say("v3", ZHANG, "还行", "张阿姨")])
    assert replies(posts, "v1") == [texts.SEVERAL_TO_RATE.format(count=2, numbers="#1、#2")]
    assert replies(posts, "v2") == [texts.RATED.format(number=2, rating="满意")]
    assert replies(posts, "v3") == [texts.RATED.format(number=1, rating="基本满意")]


async def test_a_bare_rating_from_someone_else_is_talk(db, config):
    posts = await chat(db, config, resolved_ticket_then(say("v1", LI, "满意", "李叔叔"),
                                                        say("v2", HEAD, "很满意", "邱煥武")))
    assert replies(posts, "v1") == [] and replies(posts, "v2") == []
    assert tickets(db)[0].status == Status.RESOLVED


# ---- 12: WeCom puts no separator after a mention -----------------------------------------------

CASE_12 = [
    {"id": "l1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "@网格小助手下单 4栋2单元楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "l2", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "@网格小助手\u2005下单 4栋3单元楼道灯不亮", "at": "2026-11-24T09:00:30+08:00"},
    {"id": "l3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "@网格小助手接单", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "l4", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单 #1", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "l5", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "转派 #1 @周敏请跟进", "at": "2026-11-24T09:03:00+08:00"},
    {"id": "l6", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "转派 #1 @周敏\u2005请跟进", "at": "2026-11-24T09:04:00+08:00"},
]


async def test_case_12_mentions_without_separator(db, config):
    posts = await chat(db, config, CASE_12)
    assert replies(posts, "l1")[0].startswith("已受理 #1") and replies(posts, "l2")[0].startswith("已受理 #2")
    assert replies(posts, "l3") == [texts.SEVERAL_WAITING.format(count=2, numbers="#1、#2")]
    assert replies(posts, "l5") == [texts.TRANSFERRED.format(number=1, handler="邱煥武", target="周敏")]
    # Now 周敏 has it: the same hand-over again is refused with the reason, not "not found".
    assert replies(posts, "l6") == [texts.NOT_HANDLER.format(number=1, handler="周敏", action="转派")]
    assert tickets(db)[0].assignee_id == DEPUTY


@pytest.mark.parametrize("text", [
    "转派 #1 @周敏请跟进", "转派 #1 @周敏 请跟进", "转派 #1 @周敏\u2005", "转派 #1 @周敏", "转派#1@周敏麻烦看下",
    "转派 #1 @周敏，她住4栋", "转派 #1 @周敏😊", "转派 #1 @周敏[抱拳]谢谢", "轉派 #1 @周敏",
])
async def test_a_known_name_is_found_whatever_follows_it(db, config, text):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, "接单", "邱煥武"),
                                    say("t1", HEAD, text, "邱煥武")])
    assert replies(posts, "t1") == [texts.TRANSFERRED.format(number=1, handler="邱煥武", target="周敏")]


@pytest.mark.parametrize("text", ["@网格小助手接单", "@网格小助手 接单", "@网格小助手\u2005接单！",
                                  "@网格小助手：接单", "@网格小助手,我来接单"])
async def test_a_leading_mention_of_the_bot(db, config, text):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, text, "邱煥武")])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="邱煥武")]


async def test_an_unknown_name_is_still_not_found(db, config):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, "接单", "邱煥武"),
                                    say("t1", HEAD, "转派 #1 @马军", "邱煥武"),
                                    say("t2", HEAD, "转派 #1 @张三丰请跟进", "邱煥武")])
    assert replies(posts, "t1") == [texts.UNKNOWN_MEMBER.format(name="马军")]
    assert replies(posts, "t2") == [texts.UNKNOWN_MEMBER.format(name="张三丰请跟进")]
    assert tickets(db)[0].assignee_id == HEAD


# ---- 14 and 26: several numbers, brackets, N号单 -------------------------------------------------

CASE_14 = [
    {"id": "n1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 4栋2单元楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "n2", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单 3栋门口下水道堵了", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "n3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单 #1 #2", "at": "2026-11-24T09:04:00+08:00"},
    {"id": "n4", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "办结 #1、#2 都处理好了", "at": "2026-11-24T10:04:00+08:00"},
    {"tick": "2026-11-24T11:05:00+08:00"},
]


async def test_case_14_several_numbers(db, config):
    posts = await chat(db, config, CASE_14)
    assert replies(posts, "n3") == [texts.CLAIMED.format(number=1, handler="邱煥武"),
                                    texts.CLAIMED.format(number=2, handler="邱煥武")]
    assert [p["mentions"] for p in posts if p["reply_to"] == "n3"] == [[ZHANG], [LI]]
    assert replies(posts, "n4") == [texts.RESOLVED.format(number=1, result="都处理好了"),
                                    texts.RESOLVED.format(number=2, result="都处理好了")]
    assert [t.status for t in tickets(db)] == [Status.RESOLVED, Status.RESOLVED]
    assert [p for p in posts if p["reply_to"] is None] == []  # nothing escalated at the tick


@pytest.mark.parametrize("text", ["接单 #1 #2", "接单 #1、#2", "接单#1#2", "接单 #1,#2", "接单 #1，#2",
                                  "接单 #1和#2", "接单 1、2", "接单 #1 / #2", "接单（#1、#2）", "接单 1号单 2号单",
                                  "接單 ＃1 ＃2", "接单 #1 #2 #1", "收到，接单 #1 #2"])
async def test_claiming_several(db, config, text):
    posts = await chat(db, config, [order("o1"), order("o2", "下单 3栋门口下水道堵了", LI),
                                    say("c1", HEAD, text, "邱煥武")])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="邱煥武"),
                                    texts.CLAIMED.format(number=2, handler="邱煥武")]


async def test_several_numbers_each_answered_on_its_own(db, config):
    posts = await chat(db, config, [order("o1"), order("o2", "下单 3栋门口下水道堵了", LI),
                                    say("c0", HEAD, "接单 #2", "邱煥武"),
                                    say("c1", HEAD, "接单 #1 #2 #9", "邱煥武"),
                                    say("r1", LI, "办结 #1 #2 好了", "李叔叔"),
                                    say("c2", HEAD, "接单 " + " ".join(f"#{n}" for n in range(1, 13)),
                                        "邱煥武")])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=1, handler="邱煥武"),
                                    texts.ALREADY_YOURS.format(number=2),
                                    texts.TICKET_NOT_FOUND.format(number=9)]
    assert replies(posts, "r1") == [
        texts.NOT_HANDLER.format(number=1, handler="邱煥武", action="办结"),
        texts.NOT_HANDLER.format(number=2, handler="邱煥武", action="办结")]
    assert replies(posts, "c2") == [texts.TOO_MANY_NUMBERS.format(limit=10)]


async def test_a_count_after_a_number_is_not_another_number(db, config):
    posts = await chat(db, config, [order("o1"), order("o2", "下单 3栋门口下水道堵了", LI),
                                    say("c1", HEAD, "接单 #1", "邱煥武"),
                                    say("r1", HEAD, "办结 #1 2个灯都换了", "邱煥武")])
    assert replies(posts, "r1") == [texts.RESOLVED.format(number=1, result="2个灯都换了")]
    assert tickets(db)[1].status == Status.OPEN


CASE_26 = [
    {"id": "y1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 4栋2单元楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "y2", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单 3栋门口下水道堵了", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "y3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单（#1）", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "y4", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单 2号单", "at": "2026-11-24T09:03:00+08:00"},
    {"id": "y5", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单 #1", "at": "2026-11-24T09:04:00+08:00"},
    {"id": "y6", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "办结#1。已修好", "at": "2026-11-24T09:30:00+08:00"},
    {"id": "y7", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "评价 #1 非常满意", "at": "2026-11-24T09:40:00+08:00"},
    {"id": "y8", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "评价 #1 很满意，谢谢", "at": "2026-11-24T09:41:00+08:00"},
]


async def test_case_26_number_and_bracket_variants(db, config):
    posts = await chat(db, config, CASE_26)
    assert replies(posts, "y3") == [texts.CLAIMED.format(number=1, handler="邱煥武")]
    assert replies(posts, "y4") == [texts.CLAIMED.format(number=2, handler="邱煥武")]
    assert replies(posts, "y5") == [texts.ALREADY_YOURS.format(number=1)]
    assert replies(posts, "y6") == [texts.RESOLVED.format(number=1, result="已修好")]
    assert replies(posts, "y7") == [texts.RATED.format(number=1, rating="满意")]
    assert replies(posts, "y8") == [texts.TICKET_FINISHED.format(
        number=1, status=texts.STATUS_NAMES["closed"], action="评价")]
    assert (tickets(db)[0].rating, tickets(db)[1].status) == ("满意", Status.CLAIMED)


@pytest.mark.parametrize("text", ["接单（#2）", "接单(#2)", "接单【#2】", "接单[2]", "接单 （2）", "接单 2号单",
                                  "接单2号单", "接单 第2号", "接单 第2单", "接单 #2。", "接单：#2", "接单 ＃２",
                                  "接單（＃2）", "接单 2号"])
async def test_number_forms(db, config, text):
    posts = await chat(db, config, [order("o1"), order("o2", "下单 3栋门口下水道堵了", LI),
                                    say("c1", HEAD, text, "邱煥武")])
    assert replies(posts, "c1") == [texts.CLAIMED.format(number=2, handler="邱煥武")]


@pytest.mark.parametrize("text, result", [
    ("办结#1。已修好", "已修好"), ("办结#1，已修好", "已修好"), ("办结（#1）已修好", "已修好"),
    ("办结 1号单 已修好", "已修好"), ("办结#1！已修好👍", "已修好👍"), ("办结 #1：灯泡换了", "灯泡换了"),
    ("辦結#1。已修好", "已修好"), ("#1已办结", None), ("1号单办结了", None),
])
async def test_resolution_forms(db, config, text, result):
    posts = await chat(db, config, [order("o1"), say("c1", HEAD, "接单", "邱煥武"),
                                    say("r1", HEAD, text, "邱煥武")])
    expected = (texts.RESOLVED.format(number=1, result=result) if result
                else texts.RESOLVED_WITHOUT_NOTE.format(number=1))
    assert replies(posts, "r1") == [expected]


# ---- 28 and 29: names with spaces, group nicknames, surnames with a title ----------------------

CASE_28 = [
    {"id": "aa1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 4栋2单元楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "aa2", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "aa3", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "转派 #1 @Amy 周\u2005她住4栋方便", "at": "2026-11-24T09:02:00+08:00"},
]


@pytest.fixture(scope="module")
def config_28(tmp_path_factory):
    """Field case 28's config (its yaml): the shipped one, with the deputy named `Amy 周`."""
    return shipped_config_with(tmp_path_factory, "{id: wxid_zhou_min, name: 周敏}",
                               '{id: wxid_zhou_min, name: "Amy 周"}')


async def test_case_28_a_name_with_a_space(db, config_28):
    posts = await chat(db, config_28, CASE_28)
    assert replies(posts, "aa3") == [texts.TRANSFERRED.format(number=1, handler="邱煥武",
                                                              target="Amy 周")]
    assert tickets(db)[0].assignee_id == DEPUTY


@pytest.mark.parametrize("text", ["转派 #1 @Amy 周\u2005她住4栋方便", "转派 #1 @Amy 周", "转派 #1 @Amy 周 她住4栋",
                                  "转派 #1 @amy 周\u2005", "转派 #1 @Amy\u3000周\u2005", "转派 #1 @Ａｍｙ 周\u2005",
                                  "转派 #1 @Amy 周请跟进"])
async def test_names_with_spaces(db, config_28, text):
    posts = await chat(db, config_28, [order("o1"), say("c1", HEAD, "接单", "邱煥武"),
                                       say("t1", HEAD, text, "邱煥武")])
    assert replies(posts, "t1") == [texts.TRANSFERRED.format(number=1, handler="邱煥武", target="Amy 周")]


CASE_29 = [
    {"id": "ab1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 4栋2单元楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "ab2", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "ab3", "room": GRID, "sender": HEAD, "name": "网格长-邱煥武", "text": "转派 #1 @4栋楼长周敏\u2005", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "ab4", "room": BRANCH, "sender": BRANCH_HEAD, "name": "王国强", "text": "派单 #1 @邱师傅\u2005", "at": "2026-11-24T09:03:00+08:00"},
]


async def test_case_29_group_nicknames(db, config):
    posts = await chat(db, config, CASE_29)
    # The head posts under a group nickname: still 邱煥武, the handler.
    assert replies(posts, "ab3") == [texts.TRANSFERRED.format(number=1, handler="邱煥武", target="周敏")]
    assert replies(posts, "ab4", BRANCH) == [texts.DISPATCHED.format(number=1, dispatcher="王国强",
                                                             target="邱煥武")]
    assert tickets(db)[0].assignee_id == HEAD


async def test_a_name_a_member_was_seen_posting_under_is_found(db, config):
    posts = await chat(db, config, [
        say("h0", DEPUTY, "收到", "小区物业对接人-敏姐"),   # seen under a nickname sharing no name
        order("o1"), say("c1", HEAD, "接单", "邱煥武"),
        say("t1", HEAD, "转派 #1 @小区物业对接人-敏姐\u2005", "邱煥武")])
    assert replies(posts, "t1") == [texts.TRANSFERRED.format(number=1, handler="邱煥武", target="周敏")]
    with db.session() as session:
        seen = session.exec(select(MemberName)).all()
    assert [(m.member_id, m.name) for m in seen] == [(DEPUTY, "小区物业对接人-敏姐")]


async def test_a_nickname_a_resident_uses_names_nobody(db, config):
    # Names are kept only for heads and deputies: a resident posting as "周敏的邻居" changes nothing.
    posts = await chat(db, config, [
        say("h0", LI, "大家好", "物业小刘"), order("o1"), say("c1", HEAD, "接单", "邱煥武"),
        say("t1", HEAD, "转派 #1 @物业小刘\u2005", "邱煥武")])
    assert replies(posts, "t1") == [texts.UNKNOWN_MEMBER.format(name="物业小刘")]
    with db.session() as session:
        assert session.exec(select(MemberName)).all() == []


@pytest.mark.parametrize("mention, target", [
    ("@邱师傅\u2005", "邱煥武"), ("@老邱", "邱煥武"), ("@邱书记", "邱煥武"), ("@网格长-邱煥武", "邱煥武"),
    ("@邱焕武", "邱煥武"), ("@4栋楼长周敏\u2005", "周敏"), ("@周姐\u2005", "周敏"), ("@小周", "周敏"),
    ("@周敏（4栋）", "周敏"),
])
async def test_dispatch_by_what_people_call_a_head(db, config, mention, target):
    posts = await chat(db, config, [order("o1"),
                                    say("d1", BRANCH_HEAD, f"派单 #1 {mention}", "王国强", room=BRANCH)])
    assert replies(posts, "d1", BRANCH) == [texts.DISPATCHED.format(number=1, dispatcher="王国强",
                                                            target=target)]


async def test_a_surname_nobody_here_has_is_not_found(db, config):
    posts = await chat(db, config, [order("o1"),
                                    say("d1", BRANCH_HEAD, "派单 #1 @张师傅", "王国强", room=BRANCH),
                                    say("d2", BRANCH_HEAD, "派单 #1 @马师傅", "王国强", room=BRANCH)])
    assert replies(posts, "d1") == [texts.UNKNOWN_MEMBER.format(name="张师傅")]
    # 马军 heads a micro-grid of the other community: not one the branch group can address.
    assert replies(posts, "d2") == [texts.UNKNOWN_MEMBER.format(name="马师傅")]


@pytest.fixture(scope="module")
def two_qiu(tmp_path_factory):
    """The shipped config with the second micro-grid's head also named 邱 (邱建国)."""
    return shipped_config_with(tmp_path_factory, "{id: wxid_liu_jianguo, name: 刘建国}",
                               "{id: wxid_liu_jianguo, name: 邱建国}")


async def test_two_heads_with_one_surname_are_asked_about(db, two_qiu):
    posts = await chat(db, two_qiu, [order("o1"),
                                     say("d1", BRANCH_HEAD, "派单 #1 @邱师傅", "王国强", room=BRANCH),
                                     say("d2", BRANCH_HEAD, "派单 #1 @邱建国", "王国强", room=BRANCH)])
    assert replies(posts, "d1") == [texts.AMBIGUOUS_MEMBER.format(count=2, name="邱师傅")]
    # Named in full, 邱建国 is found, and refused: a sibling grid's head cannot take #1.
    assert replies(posts, "d2") == [texts.NOT_AUTHORISED_TARGET.format(number=1, name="邱建国")]


async def test_a_mention_the_transport_names_by_id_needs_no_known_name(db, config):
    # `mentions` in a `gridbot chat` line (and the webhook's), the ids the chat service gave:
    # a nickname nobody was seen using still names the member.
    line = say("d1", BRANCH_HEAD, "派单 #1 @大当家\u2005", "王国强", room=BRANCH)
    posts = await chat(db, config, [order("o1"), {**line, "mentions": [HEAD]}])
    assert replies(posts, "d1", BRANCH) == [texts.DISPATCHED.format(number=1, dispatcher="王国强",
                                                            target="邱煥武")]
    # Without the id, the same words name nobody.
    posts = await chat(db, config, [say("d2", BRANCH_HEAD, "派单 #1 @大当家\u2005", "王国强", room=BRANCH)])
    assert replies(posts, "d2") == [texts.UNKNOWN_MEMBER.format(name="大当家")]
