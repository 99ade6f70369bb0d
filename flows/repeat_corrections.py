"""Heads' decisions on one problem, many reports (一事多报) as labelled pairs: the field's own
data for the pair model (flows/repeat_model.py).

A head who writes `合并 #13 #12` says that 13 reports 12's problem: a pair the model did not join
(or could not: it was posted before 12, or outside the window). A head who writes `拆分 #13` says
that 13 does not: a join (the model's or a head's) was wrong. Each decision is a pair in the
shape of tests/data/repeats/LABELLING.md, `first` the older request, `second` the newer; when a
pair was decided more than once (joined, then split), the last decision counts. Joins the model
made and nobody undid are not labels: nobody looked at them.

Pure: the caller reads the tickets and their events (bot/cli.py, `gridbot repeats`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from models.tables import Status, Ticket, TicketEvent

__all__ = ["DECISION_EVENTS", "NAMING_EVENTS", "Decision", "decisions", "decisions_report"]

# The events of a decision, on the ticket that was joined (13): `merged` from an active status
# (a head's 合并; the model's own join is `merged` with no status before), `split` from merged.
DECISION_EVENTS = ("merged", "split")
# Every ticket a decision names carries one of these: the joined ticket its decision, the ticket
# it joined `joined` (a 合并) or `split` (a 拆分).
NAMING_EVENTS = (*DECISION_EVENTS, "joined")


@dataclass(frozen=True)
class Decision:
    """One pair a head decided: `label` in LABELLING.md's keys and order (`same` true for a
    合并, false for a 拆分)."""

    label: dict[str, Any]

    @property
    def same(self) -> bool:
        return self.label["same"]


def _other(note: str | None) -> int | None:
    """The ticket number an event's note names (`#12`), or None."""
    if not note or not note.startswith("#") or not note[1:].isdigit():
        return None
    return int(note[1:])


def decisions(events: Iterable[TicketEvent], tickets: Mapping[int, Ticket]) -> list[Decision]:
    """The pairs heads decided, in the order of their last decision.

    `events`: the `merged` and `split` events (DECISION_EVENTS), oldest first (by id); `tickets`:
    by number, every ticket those events are on or name. An event naming a ticket that is not
    in `tickets` (deleted, or another database's) is skipped."""
    last: dict[tuple[int, int], tuple[int, bool]] = {}
    for order, event in enumerate(events):
        if event.kind == "merged" and event.from_status is not None:
            same = True     # 合并 by a head; the model's joins start at merged (no status before)
        elif event.kind == "split" and event.from_status == Status.MERGED:
            same = False    # 拆分 of the joined ticket itself (its parent's event has no status)
        else:
            continue
        other = _other(event.note)
        if other is None or other not in tickets or event.ticket_id not in tickets:
            continue
        pair = tuple(sorted((event.ticket_id, other)))
        last.pop(pair, None)   # a later decision moves the pair to its place in the order
        last[pair] = (order, same)
    found = []
    for (one, two), (_, same) in last.items():
        first, second = sorted((tickets[one], tickets[two]), key=lambda t: (t.created_at, t.id))
        found.append(Decision({"first": first.text.strip(), "second": second.text.strip(),
                               "same_reporter": first.reporter_id == second.reporter_id,
                               "same": same}))
    return found


def decisions_report(found: Iterable[Decision]) -> str:
    """A line of counts: joined by heads (合并: pairs the model missed), undone (拆分: wrong
    joins), each by kind of pair (the same household, another)."""
    counts = Counter((d.same, d.label["same_reporter"]) for d in found)

    def part(same: bool) -> str:
        return (f"{counts[same, True] + counts[same, False]} "
                f"({counts[same, True]} same household, {counts[same, False]} another)")
    return f"heads' decisions: {part(True)} joined (合并), {part(False)} undone (拆分)"
