"""A subtree in SQL: one indexed range, whatever its size.

Liuyang's city node has 33,431 nodes below it. A query scoped to it that carried their ids as an
`IN` list would bind 33,431 parameters per statement (~0.35 s on SQLite, ~1 s of round trip on
PostgreSQL). Instead the database holds the network's depth-first numbering (`grid_node`, a
nested set: `flows.network.Network.intervals`), and "home node in the subtree of N" is

    ticket.node_id IN (SELECT node_id FROM grid_node
                       WHERE fingerprint = :shape AND position BETWEEN :first AND :last)

a statement of the same size for a micro-grid and for the city, answered from one index.

Each shape of the tree (`Network.fingerprint`) keeps its own numbering, written once by the
first instance that starts with it (`sync_network`). An instance still running an older
config keeps answering by its own numbering, so two instances mid-rollout never disturb each
other; a config that moves a node is a new shape, and tickets need no rewrite. Shapes no
instance used for `KEEP_UNUSED` are removed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from flows.network import Network
from flows.open_tickets import OpenFigures, OpenGroup, OpenTree, count_open, open_groups, open_tree
from models.db import Database
from models.tables import GridNetwork, GridNode, Ticket

log = logging.getLogger(__name__)

KEEP_UNUSED = timedelta(days=30)   # a shape no instance started with for this long is dropped
TOUCH_EVERY = timedelta(days=1)    # how stale `used_at` may get before a start refreshes it
CHUNK = 5_000                      # rows per INSERT while writing a numbering
# `in_subtree(per_row=True)` tests each row only for a subtree of at least this share of the
# nodes: the rows walked to list n of a subtree grow as n ÷ its share, its own rows as its share
# (crossing at ~1.5 % of Liuyang's open tickets; a township is 3.7 %, a village 0.4 %).
PER_ROW_SHARE = 64

_NETWORKS = GridNetwork.__table__
_NODES = GridNode.__table__

__all__ = ["in_subtree", "in_subtrees", "open_figures", "open_tree_at", "rooms_of_subtree", "standing_at",
           "sync_network"]


def sync_network(db: Database, network: Network, now: datetime) -> bool:
    """Make sure the database holds `network`'s numbering; returns True when it was written now.

    Idempotent and safe when several instances start at once (the numbering of one shape is the
    same whoever writes it; a second writer's insert collides on the key and is dropped). Also
    drops the numberings of shapes unused for `KEEP_UNUSED` (`now`: aware UTC). Costs one
    look-up when the numbering is there; writing 33,431 nodes takes well under a second.
    """
    shape = network.fingerprint
    with db.engine.begin() as connection:
        used_at = connection.execute(select(_NETWORKS.c.used_at)
                                     .where(_NETWORKS.c.fingerprint == shape)).scalar()
        if used_at is not None:
            if now - used_at > TOUCH_EVERY:
                connection.execute(update(_NETWORKS).where(_NETWORKS.c.fingerprint == shape)
                                   .values(used_at=now))
            return False
    try:
        with db.engine.begin() as connection:
            rows = [{"fingerprint": shape, "node_id": node_id, "position": first,
                     "subtree_last": last, "depth": network.depth(node_id),
                     "room": network.node(node_id).group.room}
                    for node_id, (first, last) in network.intervals.items()]
            for start in range(0, len(rows), CHUNK):
                connection.execute(insert(_NODES), rows[start:start + CHUNK])
            # Last: a reader that finds the shape finds all of its nodes.
            connection.execute(insert(_NETWORKS), [{"fingerprint": shape, "nodes": len(rows),
                                                    "used_at": now}])
    except IntegrityError:
        log.info("network shape %s written by another instance", shape)
        return False
    _drop_unused(db, shape, now)
    with db.engine.begin() as connection:
        # Every subtree test joins this table: fresh statistics, or the planners guess its size
        # until PostgreSQL's autovacuum comes by (SQLite's never does).
        connection.exec_driver_sql(f"ANALYZE {_NODES.name}")
    log.info("network shape %s written (%d nodes)", shape, len(network))
    return True


def _drop_unused(db: Database, keep: str, now: datetime) -> None:
    with db.engine.begin() as connection:
        stale = connection.execute(select(_NETWORKS.c.fingerprint).where(
            _NETWORKS.c.used_at < now - KEEP_UNUSED, _NETWORKS.c.fingerprint != keep)).scalars().all()
        for shape in stale:
            connection.execute(delete(_NETWORKS).where(_NETWORKS.c.fingerprint == shape))
            connection.execute(delete(_NODES).where(_NODES.c.fingerprint == shape))


def in_subtree(network: Network, node_id: str, column=None, *,
               per_row: bool = False) -> ColumnElement[bool]:
    """SQL condition: `column` (default `Ticket.node_id`) names a node of `node_id`'s subtree
    (the node itself or any node below it). The statement's size does not depend on the
    subtree's. KeyError when `node_id` is not in the network. The database must hold the
    network's numbering (`sync_network`, run by every Dispatcher and command that opens it).

    Two forms of one meaning, for the planner (SQLite has no idea how many rows a subquery
    yields and would always start from it):
    - by default `column IN (the subtree's node ids, by range)`: the query starts from the
      subtree's rows in an index led by the column (a micro-grid's is a plain equality);
    - `per_row`: `EXISTS` (the row's node in the range), tested on each row the query's other
      conditions find. Pass it when those pick out fewer rows than the subtree holds (a day's
      period, the newest page of a list). Taken only for a subtree of at least 1/`PER_ROW_SHARE`
      of the network's nodes: listing 20 of a smaller one, a branch's or a village's, walked
      the whole network's rows in order to find its few (a branch's 20 overdue tickets at
      Liuyang's size: 106 ms, against 4.5 ms from its own rows; a township's the other way
      round, 3.6 against 100 ms).
    """
    column = Ticket.node_id if column is None else column
    first, last = network.intervals[network.node(node_id).id]
    if first == last:
        return column == node_id
    if network.parent(node_id) is None:
        # The top's subtree is every ticket: also one whose home node a later config removed,
        # which only the top can still see (api.tokens.Principal.sees). No condition at all
        # lets the database count a year of a city's tickets from its narrowest index.
        return true()
    if per_row and (last - first + 1) * PER_ROW_SHARE >= len(network):
        return _nodes_of(network, node_id, _NODES.c.node_id).where(
            _NODES.c.node_id == column).exists()
    return column.in_(_nodes_of(network, node_id, _NODES.c.node_id))


def _nodes_of(network: Network, node_id: str, column):
    """SQL select of `column` of `grid_node` over `node_id`'s subtree in this network's
    numbering: one range of its index."""
    first, last = network.intervals[network.node(node_id).id]
    return select(column).where(_NODES.c.fingerprint == network.fingerprint,
                                _NODES.c.position.between(first, last))


def in_subtrees(network: Network, node_ids, column=None, *,
                per_row: bool = False) -> ColumnElement[bool]:
    """`in_subtree` of any of `node_ids` (a head's 待办 over everything they lead)."""
    conditions = [in_subtree(network, node_id, column, per_row=per_row) for node_id in node_ids]
    return conditions[0] if len(conditions) == 1 else or_(*conditions)


def standing_at(network: Network, node_id: str) -> ColumnElement[bool]:
    """SQL condition: a ticket whose home node lies strictly below `node_id` and that was
    escalated (吹哨) exactly up to it (`flows.escalation.current_node`; at the network's top,
    any height above the home node reaches it). Open or not is for the caller to add."""
    node = network.node(node_id)
    first, last = network.intervals[node.id]
    depth = network.depth(node.id)
    homes = _NODES.alias("home")
    reached = (Ticket.escalation_level >= homes.c.depth - depth
               if network.parent(node.id) is None
               else Ticket.escalation_level == homes.c.depth - depth)
    below = (select(homes.c.node_id)
             .where(homes.c.fingerprint == network.fingerprint, homes.c.node_id == Ticket.node_id,
                    homes.c.position > first, homes.c.position <= last, reached))
    return (Ticket.escalation_level > 0) & below.exists()


def rooms_of_subtree(network: Network, node_id: str):
    """SQL select of the group rooms of `node_id`'s subtree (for `room IN (...)`)."""
    return _nodes_of(network, node_id, _NODES.c.room)


def open_figures(session, network: Network, node_id: str, now: datetime, *,
                 per_node: bool = True) -> OpenFigures:
    """The open figures of `node_id`'s subtree at `now` (aware): one statement counting the open
    tickets by home node and escalation level (`flows.open_tickets.open_groups`), folded up
    the tree in memory. At the network's top no subtree condition is needed (count_open leaves
    out nodes no longer in the network), so the city reads its partial index once. `per_node`
    as for `count_open`."""
    return count_open(network, node_id, _open_groups(session, network, node_id, now),
                      per_node=per_node)


def open_tree_at(session, network: Network, node_id: str, now: datetime) -> OpenTree:
    """`flows.open_tickets.OpenTree` of `node_id`'s subtree at `now` (aware): the same statement
    as `open_figures`, every node's figures as lists in depth-first order."""
    return open_tree(network, node_id, _open_groups(session, network, node_id, now))


def _open_groups(session, network: Network, node_id: str, now: datetime) -> list[OpenGroup]:
    # Plain rows, labelled as OpenGroup's fields: no ORM step for the city's ~90,000 rows.
    return session.connection().execute(open_groups(in_subtree(network, node_id), now)).all()
