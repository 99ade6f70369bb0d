"""The ticket state machine, without a database."""

from datetime import datetime, timedelta, timezone

import pytest

from flows import lifecycle, texts
from flows.config import Group, Member, Node
from flows.lifecycle import Actor, Role
from models.tables import Status, Ticket, TicketEvent

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
HEAD = Actor("head", "邱煥武", frozenset({Role.GRID_HEAD, Role.IN_SCOPE}))
DEPUTY = Actor("deputy", "周敏", frozenset({Role.GRID_HEAD, Role.IN_SCOPE}))
SUPERIOR = Actor("branch", "王国强", frozenset({Role.SUPERIOR}))
RESIDENT = Actor("resident", "张阿姨", frozenset({Role.REPORTER, Role.IN_SCOPE}))
STRANGER = Actor("other", "马军", frozenset())


def ticket(status=Status.OPEN, assignee=None) -> Ticket:
    return Ticket(id=1, source_message_id="m1", group_room="g", node_id="n", reporter_id="resident",
                  reporter_name="张阿姨", text="4号楼灯不亮", category="repair", building="4",
                  status=status, assignee_id=assignee.id if assignee else None,
                  assignee_name=assignee.name if assignee else None, created_at=NOW)


def applied(t: Ticket, outcome: lifecycle.Outcome) -> Ticket:
    for name, value in outcome.changes.items():
        setattr(t, name, value)
    return t


@pytest.mark.parametrize("actor", [HEAD, DEPUTY, SUPERIOR])
def test_claim_by_head_deputy_or_superior(actor):
    t = ticket()
    outcome = lifecycle.claim(t, actor, NOW)
    assert outcome.changes == {"status": Status.CLAIMED, "assignee_id": actor.id,
                               "assignee_name": actor.name, "claimed_at": NOW}
    assert [(e.kind, e.from_status, e.to_status) for e in outcome.events] == [
        ("claimed", Status.OPEN, Status.CLAIMED)]
    assert outcome.replies[0].text == texts.CLAIMED.format(number=1, handler=actor.name)
    assert outcome.replies[0].mentions == ("resident",)


def test_claim_refused_to_a_resident():
    outcome = lifecycle.claim(ticket(), RESIDENT, NOW)
    assert not outcome.accepted and outcome.changes == {}
    assert "不是 #1 所属网格的网格长" in outcome.replies[0].text


def test_second_claim_is_told_who_has_it():
    t = ticket(Status.CLAIMED, assignee=HEAD)
    outcome = lifecycle.claim(t, DEPUTY, NOW)
    assert not outcome.accepted
    assert outcome.replies[0].text == texts.ALREADY_CLAIMED.format(number=1, handler="邱煥武")
    assert lifecycle.claim(t, HEAD, NOW).replies[0].text.startswith("#1 您已接单")


@pytest.mark.parametrize("status", [Status.CLOSED, Status.CANCELLED])
@pytest.mark.parametrize("transition", [
    lambda t: lifecycle.claim(t, HEAD, NOW),
    lambda t: lifecycle.resolve(t, HEAD, "好了", NOW),
    lambda t: lifecycle.rate(t, RESIDENT, "满意", NOW),
])
def test_nothing_changes_a_finished_ticket(status, transition):
    outcome = transition(ticket(status, assignee=HEAD))
    assert not outcome.accepted and outcome.changes == {}
    assert texts.STATUS_NAMES[status] in outcome.replies[0].text


def test_resolve_by_handler_asks_reporter_to_rate():
    t = ticket(Status.CLAIMED, assignee=HEAD)
    outcome = lifecycle.resolve(t, HEAD, "已修好", NOW)
    assert outcome.changes == {"status": Status.RESOLVED, "resolved_at": NOW, "resolution": "已修好"}
    assert [e.kind for e in outcome.events] == ["resolved"]
    assert outcome.replies[0].mentions == ("resident",)
    assert "已办结：已修好" in outcome.replies[0].text and "评价 #1 满意" in outcome.replies[0].text


def test_resolve_refused_to_others_than_the_handler():
    t = ticket(Status.CLAIMED, assignee=HEAD)
    for actor in (DEPUTY, RESIDENT, STRANGER):
        outcome = lifecycle.resolve(t, actor, "好了", NOW)
        assert not outcome.accepted
        assert "只有接单人可以办结" in outcome.replies[0].text


def test_head_resolves_an_open_ticket_in_one_step_with_both_events():
    outcome = lifecycle.resolve(ticket(), HEAD, "", NOW)
    assert [e.kind for e in outcome.events] == ["claimed", "resolved"]
    assert outcome.changes["assignee_id"] == "head" and outcome.changes["status"] == Status.RESOLVED
    assert outcome.changes["resolution"] is None
    assert lifecycle.resolve(ticket(), RESIDENT, "", NOW).accepted is False


def test_resolve_twice_is_refused():
    t = applied(ticket(Status.CLAIMED, assignee=HEAD),
                lifecycle.resolve(ticket(Status.CLAIMED, assignee=HEAD), HEAD, "好", NOW))
    assert not lifecycle.resolve(t, HEAD, "好", NOW).accepted


@pytest.mark.parametrize("words,rating,comment", [
    ("满意", "满意", None), ("基本满意 速度可以再快点", "基本满意", "速度可以再快点"),
])
def test_satisfied_rating_closes(words, rating, comment):
    t = ticket(Status.RESOLVED, assignee=HEAD)
    later = NOW + timedelta(hours=1)
    outcome = lifecycle.rate(t, RESIDENT, words, later)
    assert outcome.changes == {"status": Status.CLOSED, "closed_at": later, "rating": rating,
                               "rating_comment": comment}
    assert [e.kind for e in outcome.events] == ["rated", "closed"]
    assert outcome.replies[0].text == texts.RATED.format(number=1, rating=rating)


def test_unsatisfied_rating_reopens_with_the_same_handler():
    t = ticket(Status.RESOLVED, assignee=HEAD)
    outcome = lifecycle.rate(t, RESIDENT, "不满意，灯还是不亮", NOW)
    assert outcome.changes["status"] == Status.CLAIMED
    assert "assignee_id" not in outcome.changes  # same handler
    assert [(e.kind, e.to_status) for e in outcome.events] == [
        ("rated", None), ("reopened", Status.CLAIMED)]
    assert outcome.replies[0].mentions == ("head",)
    assert "灯还是不亮" in outcome.replies[0].text


def test_rating_refusals():
    resolved = ticket(Status.RESOLVED, assignee=HEAD)
    assert "只有提出 #1 的居民" in lifecycle.rate(resolved, HEAD, "满意", NOW).replies[0].text
    assert lifecycle.rate(resolved, RESIDENT, "随便吧", NOW).replies[0].text == \
        texts.RATING_USAGE.format(number=1)
    # The reporter's own words count as what they mean (还行 is 基本满意).
    assert lifecycle.rate(resolved, RESIDENT, "还行吧", NOW).replies[0].text == \
        texts.RATED.format(number=1, rating="基本满意")
    claimed = ticket(Status.CLAIMED, assignee=HEAD)
    assert lifecycle.rate(claimed, RESIDENT, "满意", NOW).replies[0].text == \
        texts.NOT_RESOLVED_YET.format(number=1)


def test_split_rating_prefers_the_longest_word():
    assert lifecycle.split_rating("不满意") == ("不满意", "")
    assert lifecycle.split_rating("基本满意。") == ("基本满意", "")
    assert lifecycle.split_rating(" 满意 谢谢") == ("满意", "谢谢")
    assert lifecycle.split_rating("好") == (None, "好")


def test_summary_lists_status_and_history_in_local_time():
    from zoneinfo import ZoneInfo

    t = ticket(Status.CLAIMED, assignee=HEAD)
    events = [TicketEvent(ticket_id=1, kind="created", actor_id="resident", actor_name="张阿姨", at=NOW),
              TicketEvent(ticket_id=1, kind="claimed", actor_id="head", actor_name="邱煥武",
                          at=NOW + timedelta(minutes=5))]
    outcome = lifecycle.summary(t, events, RESIDENT, ZoneInfo("Asia/Shanghai"))
    text = outcome.replies[0].text
    assert "状态：处理中（邱煥武）" in text
    assert "11-24 17:00 提交 张阿姨" in text and "11-24 17:05 接单 邱煥武" in text
    assert not outcome.accepted


def test_summary_refused_outside_the_tickets_groups():
    from zoneinfo import ZoneInfo

    outcome = lifecycle.summary(ticket(), [], STRANGER, ZoneInfo("Asia/Shanghai"))
    assert "不属于本群的网格" in outcome.replies[0].text


# ---- the rest of §4, as pure transitions ----------------------------------------------------

HANDLER = Actor("head", "邱煥武", frozenset({Role.GRID_HEAD, Role.HANDLER}))
ESCALATED_HEAD = Actor("branch", "王国强", frozenset({Role.SUPERIOR, Role.ESCALATED_TO}))
ZHOU = Member(id="deputy", name="周敏")


def node(node_id: str, head: Member) -> Node:
    return Node(id=node_id, level="branch", name=node_id,
                group=Group(room=f"{node_id}@chatroom", name=f"{node_id}群"), head=head)


def test_detail_and_progress_leave_the_status_alone():
    t = ticket(Status.CLAIMED, assignee=HEAD)
    detail = lifecycle.add_detail(t, RESIDENT, "钥匙在门卫", heads=["head"])
    assert detail.changes == {} and [e.kind for e in detail.events] == ["detail"]
    assert detail.replies[0].mentions == ("head",)
    progress = lifecycle.note_progress(t, HANDLER, "明天来修")
    assert progress.changes == {} and progress.events[0].note == "明天来修"
    assert not lifecycle.note_progress(t, DEPUTY, "我也去").accepted


def test_cancel_records_where_it_came_from():
    for status, assignee in ((Status.OPEN, None), (Status.CLAIMED, HEAD)):
        outcome = lifecycle.cancel(ticket(status, assignee), RESIDENT, NOW)
        assert outcome.changes == {"status": Status.CANCELLED, "closed_at": NOW}
        assert [(e.from_status, e.to_status) for e in outcome.events] == [(status, Status.CANCELLED)]
    assert not lifecycle.cancel(ticket(), HEAD, NOW).accepted


def test_give_back_reopens_without_a_handler():
    outcome = lifecycle.give_back(ticket(Status.CLAIMED, HEAD), HANDLER, "不归我管", ["head", "x"])
    assert outcome.changes == {"status": Status.OPEN, "assignee_id": None,
                               "assignee_name": None, "claimed_at": None}
    assert outcome.replies[0].mentions == ("x",)  # the one giving it back is not @-ed


def test_transfer_checks_the_target():
    t = ticket(Status.CLAIMED, assignee=HEAD)
    assert lifecycle.transfer(t, HANDLER, lifecycle.Target(None, problem="找不到")).replies[0].text == "找不到"
    assert not lifecycle.transfer(t, HANDLER, lifecycle.Target(ZHOU, may_handle=False)).accepted
    moved = lifecycle.transfer(t, HANDLER, lifecycle.Target(ZHOU, may_handle=True))
    assert moved.changes == {"assignee_id": "deputy", "assignee_name": "周敏"}


def test_an_escalated_head_takes_over_a_claimed_ticket():
    outcome = lifecycle.claim(ticket(Status.CLAIMED, assignee=HEAD), ESCALATED_HEAD, NOW)
    assert outcome.changes == {"assignee_id": "branch", "assignee_name": "王国强"}
    assert [(e.from_status, e.to_status) for e in outcome.events] == [(Status.CLAIMED, Status.CLAIMED)]
    # A head above that the ticket was not escalated to is told who has it.
    assert not lifecycle.claim(ticket(Status.CLAIMED, assignee=HEAD), SUPERIOR, NOW).accepted


def test_whistle_moves_one_level_and_posts_above():
    here, above = node("grid", Member(id="head", name="邱煥武")), node("b1", Member(id="b", name="王国强"))
    outcome = lifecycle.blow_whistle(ticket(), HEAD, "需要协调", here, above)
    assert outcome.changes == {"escalation_level": 1}
    mine, theirs = outcome.replies
    assert mine.room is None and theirs.room == "b1@chatroom" and theirs.mentions == ("b",)
    assert not lifecycle.blow_whistle(ticket(), RESIDENT, "", here, above).accepted
    top = lifecycle.blow_whistle(ticket(), HEAD, "", here, None)
    assert top.replies[0].text == texts.AT_THE_TOP.format(number=1, group="grid群")


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED, Status.CANCELLED])
def test_nothing_but_rating_moves_a_resolved_or_finished_ticket(status):
    t = ticket(status, assignee=HEAD)
    target = lifecycle.Target(ZHOU, may_handle=True)
    for outcome in (lifecycle.dispatch(t, SUPERIOR, target, NOW),
                    lifecycle.supervise(t, SUPERIOR, "", ["head"]),
                    lifecycle.blow_whistle(t, HEAD, "", node("a", ZHOU), node("b", ZHOU)),
                    lifecycle.give_back(t, HANDLER, "原因", ["head"]),
                    lifecycle.transfer(t, HANDLER, target),
                    lifecycle.note_progress(t, HANDLER, "进展")):
        assert not outcome.accepted and outcome.changes == {}


def test_close_unrated_only_closes_resolved_tickets():
    closed = lifecycle.close_unrated(ticket(Status.RESOLVED, HEAD), NOW)
    assert closed.changes == {"status": Status.CLOSED, "closed_at": NOW}
    assert closed.replies[0].room == "g"
    assert lifecycle.close_unrated(ticket(Status.CLAIMED, HEAD), NOW) == lifecycle.Outcome()
