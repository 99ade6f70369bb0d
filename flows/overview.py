"""What a head sees of their own subtree in chat: `待办` (tickets still waiting) and `统计` (counts
and satisfaction). Pure formatting; the dispatcher fetches the tickets and counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flows import texts
from flows.lifecycle import Reply, headline
from flows.masking import shorten
from models.tables import Status, Ticket

TODO_LINES = 10        # a chat post stays short; the dashboard has the full list
DESCRIPTION_CHARS = 20


def _shorten(ticket: Ticket, limit: int = DESCRIPTION_CHARS) -> str:
    """The description cut short, never inside a number or the reporter's name, so that the
    outbox masks them whole in a group above the micro-grid (flows/masking.py)."""
    return shorten(ticket.text, limit + 1, whole=(ticket.reporter_name, ticket.room or ""))


def todo_list(scope: str, tickets: Sequence[Ticket], total: int) -> Reply:
    """`待办`: the first waiting tickets (oldest first), and how many more there are."""
    if total == 0:
        return Reply(texts.TODO_NONE.format(scope=scope))
    lines = [texts.TODO_HEADER.format(scope=scope, count=total)]
    for ticket in tickets[:TODO_LINES]:
        lines.append(texts.TODO_LINE.format(**{
            **headline(ticket), "description": _shorten(ticket),
            "status": texts.STATUS_NAMES[ticket.status]}))
    shown = min(len(tickets), TODO_LINES)
    if total > shown:
        lines.append(texts.TODO_MORE.format(count=total - shown))
    return Reply("\n".join(lines))


def satisfaction_text(ratings: Mapping[str, int]) -> str:
    """Share of satisfied (满意 or 基本满意) among the rated tickets, e.g. `85.7%（6/7）`."""
    rated = sum(ratings.values())
    if rated == 0:
        return texts.NO_RATINGS
    satisfied = sum(count for rating, count in ratings.items()
                    if rating in texts.SATISFIED_RATINGS)
    return f"{satisfied / rated:.1%}（{satisfied}/{rated}）"


def statistics(scope: str, by_status: Mapping[str, int], ratings: Mapping[str, int]) -> Reply:
    """`统计`: tickets by status and the satisfaction rate, for the head's subtree. Reports
    joined to the ticket of their problem (一事多报) are counted apart: each problem once."""
    counts = {status.value: by_status.get(status.value, 0) for status in Status}
    joined = counts.pop(Status.MERGED.value)
    text = texts.STATISTICS.format(scope=scope, total=sum(counts.values()),
                                   satisfaction=satisfaction_text(ratings), **counts)
    if joined:
        text += texts.STATISTICS_JOINED.format(joined=joined)
    return Reply(text)
