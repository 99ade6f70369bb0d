"""待办 and 统计 formatting."""

from datetime import datetime, timezone

from flows import texts
from flows.overview import satisfaction_text, statistics, todo_list
from models.tables import Status, Ticket

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def ticket(number: int, text: str = "4号楼灯不亮") -> Ticket:
    return Ticket(id=number, source_message_id=f"m{number}", group_room="g", node_id="n",
                  reporter_id="r", reporter_name="张阿姨", text=text, category="repair",
                  building="4", status=Status.OPEN, created_at=NOW)


def test_todo_shortens_descriptions_and_counts_the_rest():
    reply = todo_list("一网格", [ticket(1, "很长" * 20), ticket(2)], total=14)
    lines = reply.text.splitlines()
    assert lines[0] == texts.TODO_HEADER.format(scope="一网格", count=14)
    assert lines[1].endswith("很长" * 10 + "…")
    assert lines[-1] == texts.TODO_MORE.format(count=12)
    assert todo_list("一网格", [], 0).text == texts.TODO_NONE.format(scope="一网格")


def test_satisfaction_counts_basic_satisfaction_as_satisfied():
    assert satisfaction_text({}) == texts.NO_RATINGS
    assert satisfaction_text({"满意": 4, "基本满意": 2, "不满意": 1}) == "85.7%（6/7）"


def test_statistics_fill_missing_statuses_with_zero():
    reply = statistics("一网格", {"open": 2, "closed": 1}, {"满意": 1})
    assert reply.text == texts.STATISTICS.format(scope="一网格", total=3, open=2, claimed=0,
                                                 verifying=0, resolved=0, closed=1, cancelled=0,
                                                 satisfaction="100.0%（1/1）")
