"""The ticket state machine, without a database."""

from datetime import datetime, timedelta, timezone

import pytest

from flows import lifecycle, texts
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
    assert lifecycle.rate(resolved, RESIDENT, "还行吧", NOW).replies[0].text == \
        texts.RATING_USAGE.format(number=1)
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
