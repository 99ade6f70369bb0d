"""What counts as open, and as overdue, in a head's subtree: the one definition behind every count
of open tickets (the dashboard's headline and chart, `/api/network`, chat's `待办` and `统计`, the
digests, `/api/tickets?overdue=`, `gridbot tickets list --overdue`, `gridbot network show`).

- **open in the subtree of N**: a ticket that is still to be done (待接单 or 处理中) whose home
  node (the grid it was routed to, `Ticket.node_id`) is N or below N, wherever it stands now: a
  ticket whistled up (吹哨) past N is still N's. Resolved (待评价), closed and cancelled tickets
  are not open. A building or unit head's (楼栋长、单元长) are those of their micro-grid whose
  parsed place lies in their building or units.
- **overdue**: open, and past the deadline of its running timer (claim or resolve) at `now`.
- **standing at** a node: the node whose group is answerable for it now (its home node, or the
  node it was escalated to; `flows.escalation.current_node`).

The rule is written twice, side by side, and nowhere else: as predicates on a ticket
(`is_open`, `is_overdue`) for tickets already loaded, and as SQL conditions (`open_in`,
`overdue_at`) for queries that count or filter in the database. Both only build values; nothing
here reads or writes the database. `count_open` turns a subtree's open tickets into the figures
every view shows, so that they always add up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flows.escalation import ACTIVE_STATUSES, current_node
from flows.network import Network, PlaceHeadOf
from models.tables import Status, Ticket

# Still to be done: waiting for a claim, being handled, or resolved and waiting for its 核查
# (no timer runs then, so it is never overdue, but it is not done).
OPEN_STATUSES = (*ACTIVE_STATUSES, Status.VERIFYING)

__all__ = ["ACTIVE_STATUSES", "OPEN_STATUSES", "OpenCount", "OpenFigures", "count_open", "homed_in",
           "is_open", "is_overdue", "open_in", "overdue_at"]


def is_open(ticket: Ticket) -> bool:
    """Still to be done: 待接单 (open), 处理中 (claimed) or 待核查 (verifying)."""
    return ticket.status in OPEN_STATUSES


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Open and past the deadline of its running timer (claim or resolve) at `now` (aware)."""
    return is_open(ticket) and ticket.deadline_at is not None and now > ticket.deadline_at


def homed_in(node_ids: Collection[str], places: Iterable[PlaceHeadOf] = ()):
    """SQL condition: tickets whose home node is one of `node_ids`, or that lie in one of
    `places` (the buildings and units a 楼栋长 or 单元长 heads: home node that micro-grid, parsed
    building that building and, for some units, parsed unit one of them; `Cover.holds`)."""
    condition = Ticket.node_id.in_(node_ids)  # type: ignore[attr-defined]
    for led in places:
        here = (Ticket.node_id == led.grid.id) & (Ticket.building == led.place.building)
        if led.place.units is not None:
            here &= Ticket.unit.in_(sorted(led.place.units))  # type: ignore[union-attr]
        condition |= here
    return condition


def open_in(node_ids: Collection[str], places: Iterable[PlaceHeadOf] = ()):
    """SQL condition (for `select(...).where(...)`): open tickets whose home node is one of
    `node_ids` (pass `Network.subtree_ids(n)` for n's subtree), or in one of `places`
    (`homed_in`). Same rule as `is_open` plus the home node."""
    return homed_in(node_ids, places) & Ticket.status.in_(OPEN_STATUSES)  # type: ignore[attr-defined]


def overdue_at(now: datetime):
    """SQL condition: open tickets past their deadline at `now`. Same rule as `is_overdue`."""
    return (Ticket.status.in_(OPEN_STATUSES) & Ticket.deadline_at.is_not(None)  # type: ignore[attr-defined,union-attr]
            & (Ticket.deadline_at < now))  # type: ignore[operator]


@dataclass(frozen=True)
class OpenCount:
    """Open tickets and, of those, how many are overdue."""

    open: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class OpenFigures:
    """The open tickets of one node's subtree (the root), counted every way the views show them.

    - `total`: open in the root's subtree: the dashboard's 待办/超期 headline.
    - `standing_at[node_id]`: of those, the ones standing at that node now (nodes of the subtree).
    - `in_subtree[node_id]`: open in that node's own subtree (for each node of the root's
      subtree), wherever they stand; `in_subtree[root] == total`.
    - `above[node_id]`: of `in_subtree[node_id]`, the ones escalated past that node and standing
      above it. For every node: in_subtree = its subtree's standing_at summed + above.
    - `by_level[level]`: of `total`, the ones standing at a node of that level inside the subtree;
      with `above[root]` they add up to `total`.

    The dicts leave out what counts zero; the methods of the same names answer `OpenCount()`
    for those.
    """

    root_id: str
    total: OpenCount
    standing_at: dict[str, OpenCount] = field(default_factory=dict)
    in_subtree: dict[str, OpenCount] = field(default_factory=dict)
    above: dict[str, OpenCount] = field(default_factory=dict)
    by_level: dict[str, OpenCount] = field(default_factory=dict)

    def at(self, node_id: str) -> OpenCount:
        """Standing at `node_id` now."""
        return self.standing_at.get(node_id, OpenCount())

    def subtree(self, node_id: str) -> OpenCount:
        """Open in `node_id`'s subtree, wherever they stand."""
        return self.in_subtree.get(node_id, OpenCount())

    def escalated_above(self, node_id: str) -> OpenCount:
        """Of `subtree(node_id)`, standing above `node_id`."""
        return self.above.get(node_id, OpenCount())

    def level(self, level: str) -> OpenCount:
        """Standing at a node of `level` inside the root's subtree."""
        return self.by_level.get(level, OpenCount())


def _counts(opened: Counter, overdue: Counter) -> dict[str, OpenCount]:
    return {key: OpenCount(opened[key], overdue[key]) for key in opened}


def count_open(network: Network, root_id: str, tickets: Iterable[Ticket],
               now: datetime) -> OpenFigures:
    """The open figures of `root_id`'s subtree at `now`.

    `tickets` may hold anything (closed ones, other subtrees', ones whose node left the network):
    only those open in the root's subtree count. Loaded with `open_in(network.subtree_ids(root))`
    it holds exactly those. KeyError when `root_id` is not a node of the network.
    """
    subtree = network.subtree_ids(root_id)
    ancestors_of_root = {node.id for node in network.ancestors(root_id)}
    total = [0, 0]
    standing, standing_late = Counter(), Counter()
    inside, inside_late = Counter(), Counter()
    above, above_late = Counter(), Counter()
    level, level_late = Counter(), Counter()
    for ticket in tickets:
        if ticket.node_id not in subtree or not is_open(ticket):
            continue
        late = is_overdue(ticket, now)
        where = current_node(network, ticket)
        total[0] += 1
        total[1] += late
        if where.id in subtree:
            standing[where.id] += 1
            standing_late[where.id] += late
            level[where.level] += 1
            level_late[where.level] += late
        # The home node and its ancestors up to the root hold the ticket in their subtrees; of
        # those, the ones below where it stands now see it as escalated above them.
        holders = {ticket.node_id} | ({node.id for node in network.ancestors(ticket.node_id)}
                                      - ancestors_of_root)
        for node_id in holders:
            inside[node_id] += 1
            inside_late[node_id] += late
            if network.depth(node_id) > network.depth(where.id):   # on one chain: below it
                above[node_id] += 1
                above_late[node_id] += late
    return OpenFigures(root_id=root_id, total=OpenCount(*total),
                       standing_at=_counts(standing, standing_late),
                       in_subtree=_counts(inside, inside_late), above=_counts(above, above_late),
                       by_level=_counts(level, level_late))
