"""Property test: whatever members post, the bot answers only with its own phrases, never
raises, loses no message and keeps every ticket's history consistent.

Each Hypothesis example is a short conversation (up to a dozen messages) in the demo network:
random Unicode and emoji, huge texts, every command keyword with missing, garbage or foreign
ticket numbers, quotes, redelivered message ids and times that go backwards. One database serves
the whole run and is emptied between examples, so that 500 examples stay quick.
"""

from __future__ import annotations

import asyncio
import logging
import re
import string
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import select

from bot.runtime import Bot
from bot.transports.simulator import Simulator
from bot.transport import IncomingMessage
from flows import texts
from flows.commands import KEYWORDS
from models.db import Database
from models.tables import (Circular, CircularDelivery, CircularReceipt, InboundMessage,
                           OutboundPost, Status, Ticket, TicketEscalation, TicketEvent)
from conftest import START, Clock

EXAMPLES = 500

# Weighted by repetition: most talk happens in one micro-grid, so that tickets live long enough
# to be claimed, resolved, rated, cancelled and escalated.
ROOMS = ["shibalong-1@chatroom"] * 6 + ["shibalong-2@chatroom", "hehua-1@chatroom", "baiyi-b1@chatroom",
         "baiyi@chatroom", "jili@chatroom", "not-a-grid@chatroom"]
MEMBERS = ["wxid_resident_zhang"] * 3 + ["wxid_qiu_huanwu"] * 3 + [
           "wxid_resident_li", "wxid_zhou_min",
           "wxid_liu_jianguo", "wxid_ma_jun", "wxid_wang_guoqiang", "wxid_li_wenhua",
           "wxid_chen_jie"]
NAMES_IN_TEXT = ["邱煥武", "周敏", "刘建国", "马军", "王国强", "李文华", "陈洁", "不存在的人", ""]

# -- what the bot may say -----------------------------------------------------------------------

# Fragments that only ever appear inside another phrase, never as a line of their own.
_FRAGMENTS = {"BOT_NAME", "URGENT_MARK", "NO_LOCATION", "TIME_FORMAT", "NO_RATINGS",
              "REOPENED_COMMENT", "ESCALATION_REASON", "SUPERVISION_NOTE", "QUERY_HANDLER"}


def _one_of(values) -> str:
    return "(?:" + "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) + ")"


_ANY = r"[\s\S]*?"
_FIELDS = {
    "number": r"\d+", "count": r"\d+", "total": r"\d+", "limit": r"\d+", "open": r"\d+",
    "claimed": r"\d+", "resolved": r"\d+", "closed": r"\d+", "cancelled": r"\d+",
    "urgent": f"(?:{re.escape(texts.URGENT_MARK)})?",
    "category": _one_of(texts.CATEGORY_NAMES.values()),
    "status": _one_of(texts.STATUS_NAMES.values()) + f"(?:（{_ANY}）)?",
    "event": _one_of(texts.EVENT_NAMES.values()),
    "action": _one_of(texts.ACTIONS.values()),
    "example": _one_of(texts.EXAMPLES.values()),
    "rating": _one_of(texts.RATINGS),
    "time": r"\d\d-\d\d \d\d:\d\d",
}


def _template_pattern(template: str) -> str:
    parts = re.split(r"\{(\w+)\}", template)
    return "".join(re.escape(part) if index % 2 == 0 else _FIELDS.get(part, _ANY)
                   for index, part in enumerate(parts))


_PHRASES = [value for name, value in vars(texts).items()
            if name.isupper() and isinstance(value, str) and name not in _FRAGMENTS]
_LINE = "(?:" + "|".join(_template_pattern(phrase) for phrase in _PHRASES) + ")"
# A post is one phrase, or several joined by line breaks (a 查询 history, a 待办 list).
KNOWN_POST = re.compile(f"{_LINE}(?:\n{_LINE})*")


def test_the_known_post_pattern_rejects_what_the_bot_never_says():
    assert KNOWN_POST.fullmatch(texts.CLAIMED.format(number=3, handler="邱煥武"))
    assert not KNOWN_POST.fullmatch("Traceback (most recent call last):")
    assert not KNOWN_POST.fullmatch("#3 已由 邱煥武 接单，正在处理。!")
    assert not KNOWN_POST.fullmatch(texts.CLAIMED.format(number="x", handler="邱煥武"))


# -- what members may post ----------------------------------------------------------------------

numbers = st.one_of(
    st.integers(1, 3).map(lambda n: f"#{n}"),        # tickets that exist (or soon will)
    st.integers(1, 3).map(str),
    st.integers(1, 6).map(str),
    st.integers(0, 10**30).map(str),                 # absurd and huge numbers
    st.sampled_from(["", "#", "＃", "#-1", "#1.5", "#一", "#１２", "第2号", "##3", "#3#4", "#0"]),
    st.text(max_size=5),                             # garbage where a number should be
)
mentions = st.sampled_from(NAMES_IN_TEXT).map(lambda name: f"@{name}\u2005" if name else "@")
keywords = st.sampled_from([*KEYWORDS, "【下单】", "#下单", "＃下单", "@网格小助手 下单"])
separators = st.sampled_from(["", " ", "　", "：", ":", "，", ",", "\n"])
free_text = st.text(st.characters(codec="utf-8"), max_size=40)  # any Unicode, emoji included
requests = st.sampled_from(["4号楼二单元4楼的灯不亮", "七号楼电梯困人了！", "2-1-302 漏水",
                            "楼下有人打架", "满意", "不满意 还是没修好", "已修好", "需要社区协调"])

commands = st.builds(
    lambda keyword, sep, number, mention, tail: f"{keyword}{sep}{number} {mention}{tail}",
    keywords, separators, numbers, st.one_of(st.just(""), mentions),
    st.one_of(requests, free_text))
huge_texts = st.builds(lambda keyword, chunk, times: keyword + chunk * times,
                       st.sampled_from(["下单 ", "补充 #1 ", "", "办结 #1 "]),
                       st.sampled_from(["灯不亮", "🙂", "a", "\u2005"]), st.integers(1000, 5000))
quoted_notices = st.builds(
    lambda number, reply: f"「网格小助手：已受理 #{number}【报修】位置未注明」\n- - - - - - - - - - - - - - -\n{reply}",
    numbers, st.sampled_from(["接单", "满意", "不满意 太慢了", "办结 已修好", "", "好的"]))
texts_posted = st.one_of(commands, commands, requests.map(lambda r: "下单 " + r), free_text,
                         huge_texts, quoted_notices,
                         st.text(st.sampled_from(string.printable + "下单接#＃ 　：@\u2005"),
                                 max_size=30))

random_messages = st.fixed_dictionaries({
    "room": st.sampled_from(ROOMS),
    "sender": st.sampled_from(MEMBERS),
    "text": texts_posted,
    "quoted": st.one_of(st.none(), st.sampled_from(["已受理 #1【报修】", "#2 已办结。", "你好"]),
                        free_text),
    "message_id": st.one_of(st.none(), st.sampled_from(["dup-1", "dup-2"])),  # redeliveries
    "minutes": st.integers(-120, 60 * 24 * 4),       # times go backwards as well as forwards
    "tick": st.booleans(),
})

# The right people saying the right things about ticket #1 or #2, in any order: whole lifecycles
# happen (claim, resolve, rate, reopen, cancel, escalate, dispatch…), not only refusals.
GRID_ROOM, BRANCH_ROOM = "shibalong-1@chatroom", "baiyi-b1@chatroom"
RESIDENT, HEAD, DEPUTY, BRANCH_HEAD = ("wxid_resident_zhang", "wxid_qiu_huanwu", "wxid_zhou_min",
                                       "wxid_wang_guoqiang")
LIFECYCLE_STEPS = [
    (GRID_ROOM, RESIDENT, "下单 4号楼二单元4楼的灯不亮"), (GRID_ROOM, RESIDENT, "下单 七号楼有人打架"),
    (GRID_ROOM, HEAD, "接单 #{n}"), (GRID_ROOM, HEAD, "接单"), (GRID_ROOM, DEPUTY, "接单 #{n}"),
    (GRID_ROOM, HEAD, "办结 #{n} 已修好"), (GRID_ROOM, HEAD, "进展 #{n} 已联系物业"),
    (GRID_ROOM, HEAD, "退单 #{n} 不属于本网格"), (GRID_ROOM, HEAD, "转派 #{n} @周敏\u2005"),
    (GRID_ROOM, HEAD, "吹哨 #{n} 需要社区协调"), (GRID_ROOM, RESIDENT, "评价 #{n} 满意"),
    (GRID_ROOM, RESIDENT, "评价 #{n} 不满意 还是不亮"), (GRID_ROOM, RESIDENT, "撤单 #{n}"),
    (GRID_ROOM, RESIDENT, "补充 #{n} 晚上七点后有人"), (GRID_ROOM, RESIDENT, "查询 #{n}"),
    (BRANCH_ROOM, BRANCH_HEAD, "接单 #{n}"), (BRANCH_ROOM, BRANCH_HEAD, "派单 #{n} @邱煥武\u2005"),
    (BRANCH_ROOM, BRANCH_HEAD, "督办 #{n} 今天办完"), (BRANCH_ROOM, BRANCH_HEAD, "吹哨 #{n}"),
    (BRANCH_ROOM, BRANCH_HEAD, "待办"), (BRANCH_ROOM, BRANCH_HEAD, "统计"),
]
lifecycle_steps = st.builds(
    lambda step, n, minutes, tick: {"room": step[0], "sender": step[1],
                                    "text": step[2].format(n=n), "quoted": None,
                                    "message_id": None, "minutes": minutes, "tick": tick},
    st.sampled_from(LIFECYCLE_STEPS), st.integers(1, 2), st.integers(0, 60 * 24 * 4),
    st.booleans())
# Every conversation opens with a resident's request, so ticket #1 is one the steps can act on.
OPENING = {"room": GRID_ROOM, "sender": RESIDENT, "text": "下单 2-1-302 厨房漏水", "quoted": None,
           "message_id": None, "minutes": 0, "tick": False}
messages = st.one_of(lifecycle_steps, lifecycle_steps, lifecycle_steps, random_messages)


# -- the checks -------------------------------------------------------------------------------

def assert_invariants(db: Database, delivered_ids: set[str]) -> None:
    with db.session() as session:
        inbound = session.exec(select(InboundMessage)).all()
        tickets = session.exec(select(Ticket)).all()
        events = session.exec(select(TicketEvent).order_by(TicketEvent.id)).all()
        posts = session.exec(select(OutboundPost)).all()

    # Nothing lost: every message id the transport delivered is stored once and was acted on.
    assert sorted(m.message_id for m in inbound) == sorted(delivered_ids)
    assert all(m.handled_at is not None for m in inbound)
    assert all(p.delivered_at is not None for p in posts)

    # One ticket per request message.
    created = [e for e in events if e.kind == "created"]
    assert len(created) == len(tickets)
    assert len({e.source_message_id for e in created}) == len(created)

    # Every status change has an event, the events chain, and end where the ticket is;
    # nothing moves a ticket once it is closed or cancelled.
    for ticket in tickets:
        changes = [e for e in events if e.ticket_id == ticket.id and e.to_status is not None]
        # Created open; a report joined to the ticket of its problem is created merged; an
        # area-wide notice (公告) is created claimed by the head who posted it.
        first = {Status.CLAIMED} if ticket.notice_until is not None else {Status.OPEN, Status.MERGED}
        assert changes and changes[0].kind == "created" and changes[0].to_status in first
        for before, after in zip(changes, changes[1:]):
            assert after.from_status == before.to_status, (before.kind, after.kind)
            assert before.to_status not in (Status.CLOSED, Status.CANCELLED), after.kind
        assert changes[-1].to_status == ticket.status


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('properties') / 'p.sqlite3'}")
    yield database
    database.dispose()


def empty(db: Database) -> None:
    with db.session() as session:
        for table in (OutboundPost, TicketEscalation, TicketEvent, Ticket, InboundMessage,
                      CircularReceipt, CircularDelivery, Circular):
            session.exec(delete(table))


generated = {"examples": 0, "messages": 0, "events": Counter()}


CONTINUED = re.compile(r"（续 (\d+)/(\d+)）\n")


def whole_texts(posts) -> list[str]:
    """The texts of the posts as written before splitting: each part after the first (marked
    （续 n/m）) joined to the one before it in the same room."""
    texts_: list[str] = []
    last: dict[tuple, int] = {}
    for post in posts:
        where = (post.room, post.recipient)
        mark = CONTINUED.match(post.text)
        if mark and int(mark.group(1)) > 1 and where in last:
            texts_[last[where]] += "\n" + post.text[mark.end():]
            continue
        last[where] = len(texts_)
        texts_.append(post.text)
    return texts_


@settings(max_examples=EXAMPLES, deadline=None,
          # The database fixture is shared on purpose and emptied at the start of each example.
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(conversation=st.lists(messages, min_size=4, max_size=24).map(lambda rest: [OPENING, *rest]))
def test_any_conversation_gets_known_replies_and_keeps_the_invariants(
        conversation, shared_db, config, network):
    empty(shared_db)
    clock = Clock(START)
    simulator = Simulator(network, clock=clock)
    bot = Bot(config, shared_db, simulator, network, clock=clock)
    simulator.attach(bot)
    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)
    delivered_ids: set[str] = set()

    async def converse() -> None:
        for number, message in enumerate(conversation):
            at = START + timedelta(minutes=message["minutes"])
            message_id = message["message_id"] or f"m{number}"
            delivered_ids.add(message_id)
            await bot.receive(IncomingMessage(
                id=message_id, room=message["room"], sender_id=message["sender"],
                sender_name=network.member_name(message["sender"]) or "居民",
                text=message["text"], at=at, quoted=message["quoted"]))
            if message["tick"]:
                clock.now = max(clock.now, at)
                await bot.tick(clock.now)

    try:
        asyncio.run(converse())
    finally:
        logging.getLogger().removeHandler(errors)
    generated["examples"] += 1
    generated["messages"] += len(conversation)

    assert errors.records == [], [r.getMessage() for r in errors.records]
    limits = config.transport
    for post in simulator.posts:  # each part of a split post fits the transport
        assert len(post.text) <= limits.max_post_chars
        assert len(post.text.encode("utf-8")) <= limits.max_post_bytes
    for text in whole_texts(simulator.posts):
        assert KNOWN_POST.fullmatch(text), text
        assert len(text) <= 4 * config.policy.max_message_length
    assert_invariants(shared_db, delivered_ids)
    with shared_db.session() as session:
        generated["events"].update(session.exec(select(TicketEvent.kind)).all())


def test_the_property_run_was_as_large_as_promised():
    # Runs after the property test in file order; says how much was thrown at the bot.
    if generated["examples"] == 0:
        pytest.skip("the property test did not run in this session")
    print(f"\nproperty test: {generated['examples']} conversations, "
          f"{generated['messages']} messages; events: {dict(generated['events'].most_common())}")
    assert generated["examples"] >= EXAMPLES
