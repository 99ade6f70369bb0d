"""The dispatcher through the simulator: chat messages in, tickets, events and posts out."""

from __future__ import annotations

from datetime import timedelta

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
    monkeypatch.setattr(bot.dispatch, "analyse", lambda *args: 1 / 0)
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
    # Posted in the branch group, routed to a micro-grid: the reporter is answered where they
    # asked, the head is called in their own group.
    told, call = await order(sim, "下单 7栋3单元楼道堆满杂物", room=BRANCH)
    assert told.room == BRANCH and told.mentions == () and "已转「" in told.text
    assert call.room == "shibalong-2@chatroom" and call.mentions == ("wxid_liu_jianguo",)
    [unplaced] = await order(sim, "下单 小区门口路灯不亮", room=BRANCH)
    assert unplaced.mentions == ("wxid_wang_guoqiang",)
    assert [t.node_id for t in tickets(db)] == ["shibalong-2", "baiyi-b1"]


async def test_query_in_scope_and_out_of_it(sim):
    await order(sim)
    await sim.say(GRID, HEAD, "接单")
    [summary] = await order(sim, "进度 #1")
    assert "状态：处理中（邱煥武）" in summary.text and "接单 邱煥武" in summary.text
    [branch_view] = await sim.say(BRANCH, "wxid_wang_guoqiang", "查询 #1")
    assert branch_view.text == summary.text.replace("张阿姨", "张*")  # masked above the grid
    # Outside the group's reach a number is answered as one that does not exist.
    [refused] = await sim.say(OTHER_GRID, "wxid_someone", "查询 #1")
    assert refused.text == texts.TICKET_NOT_FOUND.format(number=1)


async def test_messages_in_unknown_rooms_are_kept_and_ignored(sim, db):
    assert await sim.say("stranger@chatroom", RESIDENT, "下单 灯坏了") == []
    assert tickets(db) == [] and count(db, InboundMessage) == 1


@pytest.mark.parametrize("text", ["下单了吗？团购今晚截止", "我在拼多多下单了一个锅", "群里接龙下单",
                                  "谢谢网格长", "接单了"])
async def test_chatter_is_ignored(sim, db, text):
    assert await sim.say(GRID, RESIDENT, text) == []
    assert tickets(db) == []


# ---- the rest of design §4 -------------------------------------------------------------------

BRANCH_HEAD = "wxid_wang_guoqiang"
VILLAGE = "baiyi@chatroom"


async def claimed_ticket(sim, handler=HEAD):
    await order(sim)
    await sim.say(GRID, handler, "接单 #1")


async def test_reporter_adds_detail_and_the_handler_hears_it(sim, db):
    await order(sim)
    [added] = await order(sim, "补充＃1：晚上七点后家里有人")
    assert added.text == texts.DETAIL_ADDED.format(number=1, detail="晚上七点后家里有人")
    assert added.mentions == (HEAD,)  # nobody has it yet: the head who should claim it
    await sim.say(GRID, DEPUTY, "接单")
    [added] = await order(sim, "补充 1 钥匙在门卫")
    assert added.mentions == (DEPUTY,)
    [refused] = await sim.say(GRID, HEAD, "补充 #1 我来补一句")
    assert refused.text == texts.NOT_REPORTER.format(number=1, action="补充")
    [empty] = await order(sim, "补充 #1")
    assert empty.text == texts.DETAIL_NEEDED.format(number=1)
    assert [(e.kind, e.note) for e in events(db)][-2:] == [("claimed", None), ("detail", "钥匙在门卫")]


async def test_reporter_cancels_and_nothing_more_happens(sim, db):
    await claimed_ticket(sim)
    [refused] = await sim.say(GRID, HEAD, "撤单 #1")
    assert refused.text == texts.NOT_REPORTER.format(number=1, action="撤单")
    [cancelled] = await order(sim, "撤单 第1号")
    assert cancelled.text == texts.CANCELLED.format(number=1) and cancelled.mentions == (HEAD,)
    [ticket] = tickets(db)
    assert ticket.status == Status.CANCELLED and ticket.closed_at is not None
    [late] = await sim.say(GRID, HEAD, "办结 #1 已修好")
    assert late.text == texts.TICKET_FINISHED.format(number=1, status="已撤单", action="办结")
    assert events(db)[-1].kind == "cancelled"


async def test_a_resolved_ticket_is_rated_not_cancelled(sim, db):
    await claimed_ticket(sim)
    await sim.say(GRID, HEAD, "办结 #1 已修好")
    [refused] = await order(sim, "撤单 #1")
    assert refused.text == texts.CANNOT_CANCEL_RESOLVED.format(number=1)
    assert tickets(db)[0].status == Status.RESOLVED


async def test_handler_notes_progress(sim, db):
    await order(sim)
    [not_yet] = await sim.say(GRID, HEAD, "进展 #1 已联系物业")
    assert not_yet.text == texts.NOT_CLAIMED_YET.format(number=1)
    await sim.say(GRID, HEAD, "接单")
    [noted] = await sim.say(GRID, HEAD, "进展 #1，已联系物业，明天上午维修")
    assert noted.text == texts.PROGRESS_NOTED.format(number=1, progress="已联系物业，明天上午维修")
    assert noted.mentions == (RESIDENT,)
    [refused] = await sim.say(GRID, DEPUTY, "进展 #1 我也去看看")
    assert refused.text == texts.NOT_HANDLER.format(number=1, handler="邱煥武", action="报进展")
    [empty] = await sim.say(GRID, HEAD, "进展 #1")
    assert empty.text == texts.PROGRESS_NEEDED.format(number=1)


async def test_handler_gives_the_ticket_back_with_a_reason(sim, db):
    await claimed_ticket(sim, handler=DEPUTY)
    [no_reason] = await sim.say(GRID, DEPUTY, "退单 #1")
    assert no_reason.text == texts.REASON_NEEDED.format(example=texts.EXAMPLES["退单"])
    [back] = await sim.say(GRID, DEPUTY, "退单 #1 不属于本网格")
    assert back.text == texts.GIVEN_BACK.format(number=1, handler="周敏", reason="不属于本网格")
    assert back.mentions == (HEAD,)
    [ticket] = tickets(db)
    assert ticket.status == Status.OPEN and ticket.assignee_id is None
    [claimed] = await sim.say(GRID, HEAD, "接单")  # waits for a claim again
    assert claimed.text.startswith("#1 已由 邱煥武 接单")


async def test_transfer_to_a_mentioned_member(sim, db):
    await claimed_ticket(sim)
    [no_one] = await sim.say(GRID, HEAD, "转派 #1")
    assert no_one.text == texts.MENTION_NEEDED.format(example=texts.EXAMPLES["转派"])
    [unknown] = await sim.say(GRID, HEAD, "转派 #1 @张三\u2005")
    assert unknown.text == texts.UNKNOWN_MEMBER.format(name="张三")
    [elsewhere] = await sim.say(GRID, HEAD, "转派 #1 @马军")  # another community's head
    assert elsewhere.text == texts.UNKNOWN_MEMBER.format(name="马军")
    [moved] = await sim.say(GRID, HEAD, "转派 #1 @周敏\u2005请上门看看")
    assert moved.text == texts.TRANSFERRED.format(number=1, handler="邱煥武", target="周敏")
    assert moved.mentions == (DEPUTY, RESIDENT)
    [refused] = await sim.say(GRID, HEAD, "转派 #1 @邱煥武")  # no longer the handler
    assert refused.text == texts.NOT_HANDLER.format(number=1, handler="周敏", action="转派")
    [same] = await sim.say(GRID, DEPUTY, "转派 #1 @周敏")
    assert same.text == texts.SAME_HANDLER.format(number=1, name="周敏")
    assert tickets(db)[0].assignee_id == DEPUTY
    assert events(db)[-1].kind == "transferred" and events(db)[-1].note == "邱煥武 → 周敏"


async def test_transfer_only_to_someone_of_the_tickets_grids(sim, db):
    await claimed_ticket(sim)
    # 刘建国 heads a sibling micro-grid: addressable from the branch group, but not this ticket's.
    [refused] = await sim.say(BRANCH, HEAD, "转派 #1 @刘建国")
    assert refused.text == texts.NOT_AUTHORISED_TARGET.format(number=1, name="刘建国")
    # The branch head is above it: told in the branch group, the reporter in theirs.
    up, reporter = await sim.say(GRID, HEAD, "转派 #1 @王国强")
    assert (up.room, up.mentions) == (BRANCH, (BRANCH_HEAD,))
    assert (reporter.room, reporter.mentions) == (GRID, (RESIDENT,))


async def test_blow_the_whistle_level_by_level(sim, db):
    await order(sim)
    [refused] = await order(sim, "吹哨 #1")
    assert refused.text == texts.NOT_A_HEAD_OF_TICKET.format(number=1, action="吹哨")
    here, there = await sim.say(GRID, HEAD, "吹哨 #1 需要社区协调")
    assert here.room == GRID and here.text == texts.WHISTLE_BLOWN.format(
        number=1, group="百宜社区第一党支部联片群")
    assert there.room == BRANCH and there.mentions == (BRANCH_HEAD,)
    assert there.text.startswith("【吹哨】#1【报修】4号楼2单元4楼")
    assert "来自：石坝垅小区第一微网格" in there.text and "原因：需要社区协调" in there.text
    assert tickets(db)[0].escalation_level == 1 and tickets(db)[0].status == Status.OPEN
    # The branch head blows it further, up to the top; then there is nowhere left.
    [_, village] = await sim.say(BRANCH, BRANCH_HEAD, "吹哨 #1")
    assert village.room == VILLAGE and "原因" not in village.text
    [_, township] = await sim.say(VILLAGE, "wxid_li_wenhua", "吹哨 #1")
    assert township.room == "jili@chatroom"
    [top] = await sim.say("jili@chatroom", "wxid_chen_jie", "吹哨 #1")
    assert top.text == texts.AT_THE_TOP.format(number=1, group="集里街道联络群")
    assert tickets(db)[0].escalation_level == 3
    assert [e.kind for e in events(db)].count("escalated") == 3


async def test_a_head_it_was_escalated_to_claims_dispatches_and_supervises(sim, db):
    await claimed_ticket(sim)
    [told] = await sim.say(BRANCH, BRANCH_HEAD, "接单 #1")  # not escalated: 邱煥武 keeps it
    assert told.text == texts.ALREADY_CLAIMED.format(number=1, handler="邱煥武")
    await sim.say(GRID, HEAD, "吹哨 #1 物业不配合")
    # A takeover: the reporter and the previous handler are told in their group, the branch
    # group that its call to claim is closed.
    taken, closed = await sim.say(BRANCH, BRANCH_HEAD, "接单 #1")
    assert taken.text == texts.TAKEN_OVER.format(number=1, handler="王国强", previous="邱煥武")
    assert (taken.room, taken.mentions) == (GRID, (RESIDENT, HEAD))
    assert (closed.room, closed.mentions) == (BRANCH, ())
    assert closed.text == texts.TAKEN_OVER_ELSEWHERE.format(number=1, handler="王国强",
                                                           previous="邱煥武")
    sent, closed = await sim.say(BRANCH, BRANCH_HEAD, "派单 #1 @周敏")
    assert sent.text == texts.DISPATCHED.format(number=1, dispatcher="王国强", target="周敏")
    assert (sent.room, sent.mentions) == (GRID, (DEPUTY,))
    assert closed.room == BRANCH and closed.text == texts.DISPATCHED_ELSEWHERE.format(
        number=1, dispatcher="王国强", target="周敏")
    nudge, ack = await sim.say(BRANCH, BRANCH_HEAD, "督办 #1 今天内处理")
    assert ack.room == BRANCH and ack.text == texts.SUPERVISION_SENT.format(number=1)
    assert nudge.room == GRID and nudge.mentions == (DEPUTY,) and "要求：今天内处理" in nudge.text
    [ticket] = tickets(db)
    assert ticket.assignee_id == DEPUTY and ticket.status == Status.CLAIMED
    assert [e.kind for e in events(db)][-4:] == ["escalated", "claimed", "dispatched", "supervised"]


async def test_a_full_width_at_sign_names_a_member_as_the_ascii_one_does(sim, db):
    # What a Chinese input method types in its full-width mode.
    await order(sim)
    sent, closed = await sim.say(BRANCH, BRANCH_HEAD, "派单 #1 ＠周敏")
    assert sent.text == texts.DISPATCHED.format(number=1, dispatcher="王国强", target="周敏")
    assert (sent.room, sent.mentions) == (GRID, (DEPUTY,))


async def test_dispatch_and_supervise_are_for_heads_above(sim, db):
    await order(sim)
    [refused] = await sim.say(GRID, HEAD, "派单 #1 @周敏")
    assert refused.text == texts.NOT_SUPERIOR.format(number=1, action="派单")
    [refused] = await sim.say(GRID, HEAD, "督办 #1")
    assert refused.text == texts.NOT_SUPERIOR.format(number=1, action="督办")
    # The head of another grid is told what anyone outside #1's reach is told.
    [refused] = await sim.say(OTHER_GRID, OTHER_HEAD, "派单 #1 @马军")
    assert refused.text == texts.TICKET_NOT_FOUND.format(number=1)
    # An open ticket dispatched from above is claimed by the member named.
    sent, ack = await sim.say(BRANCH, BRANCH_HEAD, "派单 #1 @邱煥武")
    assert (sent.room, sent.mentions) == (GRID, (HEAD,))
    assert (ack.room, ack.mentions, ack.text) == (BRANCH, (), sent.text)
    [ticket] = tickets(db)
    assert ticket.status == Status.CLAIMED and ticket.claimed_at is not None
    # Supervising in the ticket's own group posts the nudge only.
    [nudge] = await sim.say(GRID, BRANCH_HEAD, "督办 #1")
    assert nudge.room == GRID and nudge.mentions == (HEAD,)


async def test_an_ambiguous_name_is_answered(config, db, clock):
    from bot.runtime import Bot
    from bot.transports.simulator import Simulator
    from flows.config import parse_config
    from flows.network import Network

    raw = config.model_dump()
    # Give the second micro-grid's head the same display name as the first one's.
    shibalong_2 = raw["network"]["children"][0]["children"][0]["children"][1]
    assert shibalong_2["id"] == "shibalong-2"
    shibalong_2["head"]["name"] = "邱煥武"
    twin = parse_config(raw)
    network = Network(twin)
    sim = Simulator(network, clock=clock)
    sim.attach(Bot(twin, db, sim, network, clock=clock))
    await order(sim)
    [refused] = await sim.say(BRANCH, BRANCH_HEAD, "派单 #1 @邱煥武")
    assert refused.text == texts.AMBIGUOUS_MEMBER.format(count=2, name="邱煥武")
    # Seen from the micro-grid group, only its own head carries that name.
    await sim.say(GRID, HEAD, "接单 #1")
    [moved] = await sim.say(GRID, HEAD, "转派 #1 @邱煥武")
    assert moved.text == texts.SAME_HANDLER.format(number=1, name="邱煥武")


async def test_todo_and_statistics_for_the_senders_subtree(sim, db):
    await order(sim)                                          # #1 shibalong-1
    await order(sim, "下单 3栋门禁坏了")                       # #2 shibalong-1
    await order(sim, "下单 路灯不亮", room=OTHER_GRID)         # #3 hehua-1, another community
    await sim.say(GRID, HEAD, "接单 #1")
    await sim.say(GRID, HEAD, "办结 #1 已修好")
    await order(sim, "评价 #1 基本满意")
    [todo] = await sim.say(GRID, HEAD, "待办")
    assert todo.text.splitlines()[0] == texts.TODO_HEADER.format(scope="石坝垅小区第一微网格", count=1)
    assert todo.text.splitlines()[1].startswith("#2【报修】待接单 3号楼")
    [branch_todo] = await sim.say(BRANCH, BRANCH_HEAD, "待办")
    assert "#3" not in branch_todo.text and "#2" in branch_todo.text
    [stats] = await sim.say(BRANCH, BRANCH_HEAD, "统计")
    assert stats.text == texts.STATISTICS.format(
        scope="第一党支部", total=2, open=1, claimed=0, verifying=0, resolved=0, closed=1, cancelled=0,
        satisfaction="100.0%（1/1）")
    [township] = await sim.say("jili@chatroom", "wxid_chen_jie", "统计")
    assert "共 3 张" in township.text
    [refused] = await order(sim, "统计")
    assert refused.text == texts.NOT_A_HEAD.format(action="统计")


async def test_todo_lists_ten_and_counts_the_rest(sim):
    for n in range(12):  # twelve households: one member's flood would stop at the limit
        await order(sim, f"下单 {n % 4 + 1}栋楼道灯坏了", sender=f"wxid_resident_{n}")
    [todo] = await sim.say(GRID, HEAD, "待办")
    lines = todo.text.splitlines()
    assert len(lines) == 12 and lines[-1] == texts.TODO_MORE.format(count=2)


async def test_wechat_quote_text_refers_to_the_quoted_ticket(sim, db):
    [notice] = await order(sim)
    await order(sim, "下单 2栋楼道灯坏了")
    quote = f"「网格小助手：{notice.text}」\n- - - - - - - - - - - - - - -\n接单"
    [claimed] = await sim.say(GRID, HEAD, quote)
    assert claimed.text.startswith("#1 已由 邱煥武 接单")
    [resolved] = await sim.say(GRID, HEAD, "办结 #1 已修好")
    reply = f"「网格小助手：{resolved.text}」\n- - - - - - - - - - - - - - -\n不满意 还是不亮"
    [reopened] = await order(sim, reply)
    assert reopened.text.startswith("#1 评价为不满意")
    assert [t.status for t in tickets(db)] == [Status.CLAIMED, Status.OPEN]


async def test_a_rating_word_without_a_quote_is_chatter_unless_the_sender_has_one_to_rate(sim, db):
    await claimed_ticket(sim)
    await sim.say(GRID, HEAD, "办结 #1 已修好")
    # Someone else's 满意, and the head's: nothing of theirs waits for a rating.
    assert await sim.say(GRID, "wxid_neighbour", "满意", name="李叔叔") == []
    assert await sim.say(GRID, HEAD, "满意") == []
    assert tickets(db)[0].status == Status.RESOLVED
    # The reporter's, with exactly one ticket waiting for their rating: it rates that one.
    [thanks] = await order(sim, "满意")
    assert thanks.text == texts.RATED.format(number=1, rating="满意")
    assert tickets(db)[0].status == Status.CLOSED
    assert await order(sim, "满意") == []  # nothing waits any more: talk again


async def test_a_long_message_is_kept_cut_and_the_sender_told(sim, db, config):
    limit = config.policy.max_message_length
    *notice, told = await order(sim, "下单 4号楼灯不亮" + "很暗" * limit, message_id="long")
    assert notice[0].text.startswith("已受理 #1")  # split to the transport's limits
    assert notice[1].text.startswith(texts.POST_CONTINUED.format(part=2, parts=len(notice)))
    assert told.text == texts.TOO_LONG.format(limit=limit)
    with db.session() as session:
        stored = session.exec(select(InboundMessage)).one()
    assert len(stored.text) == limit and stored.original_length == len("下单 4号楼灯不亮") + 2 * limit
    assert len("下单 " + tickets(db)[0].text) == limit
    assert await order(sim, "收到" * limit) == []  # long chatter: kept, still ignored
    assert count(db, InboundMessage) == 2


async def test_an_unrated_ticket_closes_when_the_window_ends(sim, db, clock, config):
    await claimed_ticket(sim)
    await sim.say(GRID, HEAD, "办结 #1 已修好")
    resolved_at = clock.now
    await sim.bot.tick(resolved_at + config.policy.rating_window - timedelta(minutes=1))
    assert tickets(db)[0].status == Status.RESOLVED
    before = len(sim.posts)
    await sim.bot.tick(resolved_at + config.policy.rating_window)
    [closed] = sim.posts[before:]
    assert closed.room == GRID and closed.text == texts.AUTO_CLOSED.format(number=1)
    assert tickets(db)[0].status == Status.CLOSED and tickets(db)[0].rating is None
    await sim.bot.tick(resolved_at + config.policy.rating_window * 2)  # once only
    assert len(sim.posts) == before + 1
    assert events(db)[-1].kind == "auto_closed" and events(db)[-1].actor_id == "gridbot"


async def test_overlong_ids_and_names_fit_and_redelivery_still_matches(sim, db):
    long_id, long_name = "m" * 500, "张" * 300
    [notice] = await sim.say(GRID, RESIDENT, "下单 4号楼灯不亮", name=long_name, message_id=long_id)
    assert await sim.say(GRID, RESIDENT, "下单 4号楼灯不亮", name=long_name, message_id=long_id) == []
    [ticket] = tickets(db)
    assert ticket.source_message_id.startswith("sha256:") and len(ticket.reporter_name) == 200
