"""The dispatcher through the simulator: chat messages in, tickets, events and posts out."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from flows import texts
from models.tables import InboundMessage, OutboundPost, Status, Ticket, TicketEvent

GRID = "shibalong-1@chatroom"          # 邱煥武's micro-grid group, deputy 周敏
OTHER_GRID = "hehua-1@chatroom"        # the second community
BRANCH = "baiyi-b1@chatroom"
HEAD, DEPUTY = "wxid_qiu_huanwu", "wxid_zhou_min"
OTHER_HEAD = "wxid_ma_jun"
RESIDENT = "wxid_resident_zhang"


def tickets(db) -> list[Ticket]:
    with db.session() as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)).all())


def events(db, ticket_id=1) -> list[TicketEvent]:
    with db.session() as session:
        return list(session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                 .order_by(TicketEvent.id)).all())


def count(db, table) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(table)).one()


async def order(sim, text="下单 4号楼二单元4楼的灯不亮", room=GRID, sender=RESIDENT, **kw):
    return await sim.say(room, sender, text, name="张阿姨", **kw)


async def test_the_whole_loop(sim, db, clock):
    [notice] = await order(sim, message_id="m1")
    assert notice.room == GRID and notice.reply_to == "m1"
    assert notice.mentions == (HEAD,)
    assert notice.text.startswith("已受理 #1【报修】4号楼2单元4楼")

    assert await sim.say(GRID, "wxid_neighbour", "收到", name="李叔叔") == []

    clock.advance(minutes=5)
    [claimed] = await sim.say(GRID, HEAD, "接单", message_id="m2")
    assert claimed.text == texts.CLAIMED.format(number=1, handler="邱煥武")
    assert claimed.mentions == (RESIDENT,)

    clock.advance(hours=1)
    [resolved] = await sim.say(GRID, HEAD, "办结 #1 已修好", message_id="m3")
    assert "#1 已办结：已修好" in resolved.text and resolved.mentions == (RESIDENT,)

    clock.advance(hours=1)
    [thanks] = await order(sim, "评价 #1 满意", message_id="m4")
    assert thanks.text == texts.RATED.format(number=1, rating="满意")

    [ticket] = tickets(db)
    assert ticket.status == Status.CLOSED and ticket.rating == "满意"
    assert ticket.node_id == "shibalong-1" and ticket.assignee_id == HEAD
    assert (ticket.category, ticket.building, ticket.unit, ticket.floor) == ("repair", "4", "2", "4")
    assert ticket.created_at < ticket.claimed_at < ticket.resolved_at < ticket.closed_at
    history = [(e.kind, e.actor_id, e.source_message_id) for e in events(db)]
    assert history == [("created", RESIDENT, "m1"), ("claimed", HEAD, "m2"), ("resolved", HEAD, "m3"),
                       ("rated", RESIDENT, "m4"), ("closed", RESIDENT, "m4")]
    # Every message is kept, chatter included; every post went through the outbox and out.
    assert count(db, InboundMessage) == 5
    with db.session() as session:
        posts = session.exec(select(OutboundPost)).all()
    assert len(posts) == 4 and all(p.delivered_at is not None for p in posts)


async def test_bare_order_gets_the_usage_hint_and_no_ticket(sim, db):
    [hint] = await order(sim, "下单")
    assert hint.text == texts.PLACE_ORDER_USAGE
    assert tickets(db) == []


async def test_a_redelivered_message_does_nothing_twice(sim, db):
    first = await order(sim, message_id="dup")
    again = await order(sim, message_id="dup")
    assert len(first) == 1 and again == []
    assert len(tickets(db)) == 1 and count(db, InboundMessage) == 1 and count(db, OutboundPost) == 1


async def test_a_failure_keeps_the_message_for_a_retry(sim, db, monkeypatch):
    import bot.dispatch

    real = bot.dispatch.analyse
    monkeypatch.setattr(bot.dispatch, "analyse", lambda text: 1 / 0)
    assert await order(sim, message_id="m1") == []
    assert tickets(db) == [] and count(db, OutboundPost) == 0
    monkeypatch.setattr(bot.dispatch, "analyse", real)
    [notice] = await order(sim, message_id="m1")
    assert notice.text.startswith("已受理 #1")


async def test_bare_claim_needs_exactly_one_waiting_ticket(sim):
    [nothing] = await sim.say(GRID, HEAD, "接单")
    assert nothing.text == texts.NOTHING_WAITING
    await order(sim)
    await order(sim, "下单 3栋门禁坏了")
    [several] = await sim.say(GRID, HEAD, "接单")
    assert several.text == texts.SEVERAL_WAITING.format(count=2, numbers="#1、#2")
    [claimed] = await sim.say(GRID, HEAD, "接单 #2")
    assert claimed.text.startswith("#2 已由 邱煥武 接单")
    [claimed] = await sim.say(GRID, DEPUTY, "接单")  # only #1 waits now
    assert claimed.text.startswith("#1 已由 周敏 接单")


async def test_claim_permissions(sim, db):
    await order(sim)
    [refused] = await sim.say(GRID, RESIDENT, "接单 #1")
    assert "不是 #1 所属网格的网格长" in refused.text
    [refused] = await sim.say(GRID, OTHER_HEAD, "接单 #1")
    assert "不是 #1 所属网格的网格长" in refused.text
    assert tickets(db)[0].status == Status.OPEN
    await sim.say(GRID, DEPUTY, "接单 #1")
    [told] = await sim.say(GRID, HEAD, "接单 #1")
    assert told.text == texts.ALREADY_CLAIMED.format(number=1, handler="周敏")
    assert [e.kind for e in events(db)] == ["created", "claimed"]


async def test_a_reply_quoting_the_notice_refers_to_its_ticket(sim, db):
    [notice] = await order(sim)
    await order(sim, "下单 2栋楼道灯坏了")
    [claimed] = await sim.say(GRID, HEAD, "接单", quoted=notice.text)
    assert claimed.text.startswith("#1 已由 邱煥武 接单")
    assert [t.status for t in tickets(db)] == [Status.CLAIMED, Status.OPEN]


async def test_commands_without_a_number_or_with_an_unknown_one(sim):
    [need] = await sim.say(GRID, HEAD, "办结 已修好")
    assert need.text == texts.NUMBER_NEEDED.format(example=texts.EXAMPLES["办结"])
    [missing] = await sim.say(GRID, HEAD, "查询 #99")
    assert missing.text == texts.TICKET_NOT_FOUND.format(number=99)


async def test_unsatisfied_rating_reopens_to_the_same_handler(sim, db):
    await order(sim)
    await sim.say(GRID, HEAD, "接单")
    await sim.say(GRID, HEAD, "办结 #1 换了灯泡")
    [reopened] = await order(sim, "评价 #1 不满意 还是不亮")
    assert reopened.mentions == (HEAD,) and "还是不亮" in reopened.text
    [ticket] = tickets(db)
    assert ticket.status == Status.CLAIMED and ticket.assignee_id == HEAD
    [again] = await sim.say(GRID, HEAD, "办结 #1 换了开关")
    assert "#1 已办结：换了开关" in again.text


async def test_only_the_handler_resolves_and_only_the_reporter_rates(sim, db):
    await order(sim)
    await sim.say(GRID, HEAD, "接单")
    [refused] = await order(sim, "办结 #1 好了")
    assert "只有接单人可以办结" in refused.text
    await sim.say(GRID, HEAD, "办结 #1 好了")
    [refused] = await sim.say(GRID, HEAD, "评价 #1 满意")
    assert "只有提出 #1 的居民可以评价" in refused.text
    assert tickets(db)[0].status == Status.RESOLVED


async def test_routing_by_covers_from_a_branch_group(sim, db):
    [notice] = await order(sim, "下单 7栋3单元楼道堆满杂物", room=BRANCH)
    assert notice.room == BRANCH and notice.mentions == ("wxid_liu_jianguo",)
    [unplaced] = await order(sim, "下单 小区门口路灯不亮", room=BRANCH)
    assert unplaced.mentions == ("wxid_wang_guoqiang",)
    assert [t.node_id for t in tickets(db)] == ["shibalong-2", "baiyi-b1"]


async def test_query_in_scope_and_out_of_it(sim):
    await order(sim)
    await sim.say(GRID, HEAD, "接单")
    [summary] = await order(sim, "进度 #1")
    assert "状态：处理中（邱煥武）" in summary.text and "接单 邱煥武" in summary.text
    [branch_view] = await sim.say(BRANCH, "wxid_wang_guoqiang", "查询 #1")
    assert branch_view.text == summary.text
    [refused] = await sim.say(OTHER_GRID, "wxid_someone", "查询 #1")
    assert "不属于本群的网格" in refused.text


async def test_messages_in_unknown_rooms_are_kept_and_ignored(sim, db):
    assert await sim.say("stranger@chatroom", RESIDENT, "下单 灯坏了") == []
    assert tickets(db) == [] and count(db, InboundMessage) == 1


@pytest.mark.parametrize("text", ["下单了吗？团购今晚截止", "我在拼多多下单了一个锅", "群里接龙下单",
                                  "谢谢网格长", "接单了"])
async def test_chatter_is_ignored(sim, db, text):
    assert await sim.say(GRID, RESIDENT, text) == []
    assert tickets(db) == []
