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
`overdue_at`, and `open_groups` which counts with them) for queries that count or filter in the
database. Both only build values; nothing here reads or writes the database. `count_open` turns
a subtree's open tickets, counted by home node and escalation level, into the figures every view
shows, so that they always add up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, false
from sqlmodel import func, select

from flows.escalation import ACTIVE_STATUSES
from flows.network import Network, PlaceHeadOf
from models.tables import Status, Ticket

if TYPE_CHECKING:
    import numpy as np

# Still to be done: waiting for a claim, being handled, or resolved and waiting for its 核查
# (no timer runs then, so it is never overdue, but it is not done).
OPEN_STATUSES = (*ACTIVE_STATUSES, Status.VERIFYING)

# The statuses written into the statement as literals: the planner then matches the partial index
# of open tickets (models.tables.OPEN_WHERE) without statistics (a bound value it cannot match).
_OPEN = Ticket.status.in_(bindparam("open_statuses", [s.value for s in OPEN_STATUSES],  # type: ignore[attr-defined]
                                    expanding=True, literal_execute=True))

__all__ = ["ACTIVE_STATUSES", "OPEN_STATUSES", "OpenCount", "OpenFigures", "OpenGroup", "OpenTree", "count_open",
           "group_open", "in_places", "is_open", "is_overdue", "open_groups", "open_in", "open_tree", "overdue_at",
           "past_deadline"]


def is_open(ticket: Ticket) -> bool:
    """Still to be done: 待接单 (open), 处理中 (claimed) or 待核查 (verifying)."""
    return ticket.status in OPEN_STATUSES


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Open and past the deadline of its running timer (claim or resolve) at `now` (aware)."""
    return is_open(ticket) and ticket.deadline_at is not None and now > ticket.deadline_at


def in_places(places: Iterable[PlaceHeadOf]):
    """SQL condition: tickets that lie in one of `places` (the buildings and units a 楼栋长 or
    单元长 heads: home node that micro-grid, parsed building that building and, for some units,
    parsed unit one of them; `Cover.holds`). False for no places."""
    condition = false()
    for led in places:
        here = (Ticket.node_id == led.grid.id) & (Ticket.building == led.place.building)
        if led.place.units is not None:
            here &= Ticket.unit.in_(sorted(led.place.units))  # type: ignore[union-attr]
        condition |= here
    return condition


def open_in(scope):
    """SQL condition (for `select(...).where(...)`): open tickets within `scope`, an SQL
    condition on the home node (`models.subtrees.in_subtree(network, n)` for n's subtree, or
    `in_places` for a building head's buildings). Same rule as `is_open` plus the home node."""
    return scope & _OPEN


def overdue_at(now: datetime):
    """SQL condition: open tickets past their deadline at `now`. Same rule as `is_overdue`."""
    return _OPEN & past_deadline(now)


def past_deadline(now: datetime):
    """SQL condition: past the deadline of the running timer at `now`; with `open_in`, the
    overdue tickets (written apart so a statement names the statuses once). A ticket without a
    deadline never compares as past it. Never negate it (NULL stays NULL).

    No `deadline_at IS NOT NULL` beside it: PostgreSQL multiplied the share of tickets without a
    deadline in twice, took the open overdue tickets for 928 rather than 96,574 at Liuyang's
    scale, and read them all to list a township's first 20 (276 ms instead of 23)."""
    return Ticket.deadline_at < now  # type: ignore[operator]


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


class OpenGroup(NamedTuple):
    """Open tickets of one home node standing at one escalation level (0: at the home node), and
    how many of them are overdue: what `open_groups` counts in SQL, one row per pair, so the
    figures of the city cost as many rows as it has nodes, not as it has open tickets. A tuple,
    so the statement's rows (labelled alike) serve as they come."""

    node_id: str
    escalation_level: int
    open: int
    overdue: int = 0


def open_groups(scope, now: datetime):
    """SQL statement: (node_id, escalation_level, open, overdue) over the open tickets within
    `scope` (an SQL condition on the home node, see `open_in`), overdue at `now` (aware). Rows
    make `OpenGroup`s for `count_open`, which leaves out nodes no longer in the network."""
    return (select(Ticket.node_id, Ticket.escalation_level, func.count().label("open"),
                   func.count().filter(past_deadline(now)).label("overdue"))
            .where(open_in(scope))
            .group_by(Ticket.node_id, Ticket.escalation_level))


def group_open(tickets: Iterable[Ticket], now: datetime) -> list[OpenGroup]:
    """The `OpenGroup`s of tickets already loaded (the rule of `is_open`/`is_overdue`): what
    `open_groups` answers in SQL."""
    opened, late = Counter(), Counter()
    for ticket in tickets:
        if is_open(ticket):
            key = (ticket.node_id, ticket.escalation_level)
            opened[key] += 1
            late[key] += is_overdue(ticket, now)
    return [OpenGroup(node_id, level, count, late[node_id, level])
            for (node_id, level), count in opened.items()]


@dataclass(frozen=True)
class OpenTree:
    """The open figures of every node of a subtree at once, as lists in the network's
    depth-first order (`Network.order[first:first + len(nodes)]`): what `/api/network` writes
    for the city's 33,431 nodes without a dict entry per node. Position i is `nodes[i]`:

    - `here[i]`, `here_late[i]`: open (and overdue) tickets standing at that node now;
    - `inside[i]`, `inside_late[i]`: open in its subtree, wherever they stand;
    - `above[i]`, `above_late[i]`: of those, standing above it (escalated past it).
    """

    root_id: str
    first: int
    nodes: list[str]
    here: list[int]
    here_late: list[int]
    inside: list[int]
    inside_late: list[int]
    above: list[int]
    above_late: list[int]
    total: OpenCount
    by_level: dict[str, OpenCount]


def open_tree(network: Network, root_id: str, groups: Iterable[OpenGroup]) -> OpenTree:
    """`OpenTree` of `root_id`'s subtree from its open tickets counted by home node and
    escalation level (`groups`: `OpenGroup`s or any (node_id, escalation_level, open, overdue)
    rows; the rule of as for `count_open`: escalation level n stands n steps up the home node's chain, at most at the top). Each group is placed at its home node and
    at the ancestor it stands at by array lookups, the subtrees' sums are prefix sums over the
    depth-first order (a subtree is one interval of it): O(groups + nodes), in NumPy, with no
    Python step per group but one dict lookup. KeyError when `root_id` is not a node of the
    network."""
    import numpy as np  # here: a chat line that only counts a group's tickets never loads it

    first, last = network.intervals[root_id]
    size = last - first + 1
    shape = _shape(network)
    rows = list(groups)
    ids, levels, opened, late = zip(*rows) if rows else ((), (), (), ())
    at_home = np.fromiter(map(shape.position.get, ids, repeat(-1)), np.int64, len(ids))
    levels, opened, late = (np.asarray(column, dtype=np.int64).reshape(-1)
                            for column in (levels, opened, late))
    keep = (at_home >= first) & (at_home <= last) & (opened > 0)  # else another subtree's,
    at_home, levels, opened, late = at_home[keep], levels[keep], opened[keep], late[keep]  # or gone
    steps = np.minimum(np.maximum(levels, 0), shape.depth[at_home])    # at most up to the top
    at = shape.ancestor[steps, at_home]                   # the node each group stands at now
    inside_root = (at >= first) & (at <= last)

    def by_position(where: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
        return np.bincount(where, weights=weights, minlength=length).astype(np.int64)

    home = np.stack([by_position(at_home - first, w, size) for w in (opened, late)])
    standing = np.stack([by_position(at[inside_root] - first, w[inside_root], size)
                         for w in (opened, late)])
    level_of = shape.level[at[inside_root]]
    per_level = [by_position(level_of, w[inside_root], len(network.levels))
                 for w in (opened, late)]
    ends = shape.last[first:last + 1] - first + 1   # one past each node's last position

    def in_subtrees(counts: np.ndarray) -> np.ndarray:
        sums = np.zeros((2, size + 1), dtype=np.int64)
        np.cumsum(counts, axis=1, out=sums[:, 1:])
        return sums[:, ends] - sums[:, :size]

    inside, within = in_subtrees(home), in_subtrees(standing)
    above = inside - within
    return OpenTree(root_id, first, network.order[first:last + 1],
                    standing[0].tolist(), standing[1].tolist(), inside[0].tolist(),
                    inside[1].tolist(), above[0].tolist(), above[1].tolist(),
                    OpenCount(int(opened.sum()), int(late.sum())),
                    {level: OpenCount(int(per_level[0][index]), int(per_level[1][index]))
                     for index, level in enumerate(network.levels) if per_level[0][index]})


@dataclass(frozen=True)
class _Shape:
    """The network's depth-first numbering as arrays, by position: `position` of each id,
    `last` position of each subtree, `depth`, `level` (index in `Network.levels`) and
    `ancestor[k]`, the position k steps up (the top for steps past it)."""

    position: dict[str, int]
    last: np.ndarray
    depth: np.ndarray
    level: np.ndarray
    ancestor: np.ndarray


@lru_cache(maxsize=4)
def _shape(network: Network) -> _Shape:
    import numpy as np

    order = network.order
    position = {node_id: index for index, node_id in enumerate(order)}
    last = [last for _, last in network.intervals.values()]   # in the same depth-first order
    # Parents and depths in one walk of the numbering: the nodes whose intervals hold a
    # position are its ancestors (a call per node and question cost a command a third of a
    # second).
    parent, depth, open_ = [0] * len(order), [0] * len(order), []
    for index in range(len(last)):
        while open_ and last[open_[-1]] < index:
            open_.pop()
        parent[index] = open_[-1] if open_ else index   # the top is its own parent
        depth[index] = len(open_)
        open_.append(index)
    parent_of, depths = np.array(parent, dtype=np.int64), np.array(depth, dtype=np.int64)
    ancestor = np.empty((int(depths.max(initial=0)) + 1, len(order)), dtype=np.int64)
    ancestor[0] = np.arange(len(order))
    for step in range(1, len(ancestor)):
        ancestor[step] = parent_of[ancestor[step - 1]]
    levels = {level: index for index, level in enumerate(network.levels)}
    return _Shape(position, np.array(last, dtype=np.int64), depths,
                  np.array([levels[network.node(node_id).level] for node_id in order],
                           dtype=np.int64),
                  ancestor)


def count_open(network: Network, root_id: str, groups: Iterable[OpenGroup], *,
               per_node: bool = True) -> OpenFigures:
    """The open figures of `root_id`'s subtree from its open tickets counted by home node and
    escalation level (`open_groups` in SQL, `group_open` for loaded tickets). With
    `per_node=False` only the root's own figures are filled in (`total`, `by_level`, the root's
    `subtree` and `escalated_above`; the dashboard's headline and chart).

    `groups` may hold anything (other subtrees', nodes that left the network): only those whose
    home node is in the root's subtree count. KeyError when `root_id` is not a node of the
    network. Cost: O(groups + nodes of the subtree), whatever the number of tickets.
    """
    tree = open_tree(network, root_id, groups)
    if not per_node:
        return OpenFigures(root_id=root_id, total=tree.total,
                           in_subtree={root_id: tree.total} if tree.total.open else {},
                           above=({root_id: OpenCount(tree.above[0], tree.above_late[0])}
                                  if tree.above[0] else {}),
                           by_level=tree.by_level)

    def nonzero(opened: list[int], overdue: list[int]) -> dict[str, OpenCount]:
        return {tree.nodes[i]: OpenCount(count, overdue[i]) for i, count in enumerate(opened)
                if count}

    return OpenFigures(root_id=root_id, total=tree.total,
                       standing_at=nonzero(tree.here, tree.here_late),
                       in_subtree=nonzero(tree.inside, tree.inside_late),
                       above=nonzero(tree.above, tree.above_late), by_level=tree.by_level)

