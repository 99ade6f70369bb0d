"""Which node a new ticket belongs to (design §6), and who must be told."""

from __future__ import annotations

from flows.config import Member, Node
from flows.network import Network


def route(network: Network, posted_in: Node, building: str | None, unit: str | None) -> Node:
    """The micro-grid group it was posted in; else the micro-grid covering the place; else the
    node of the group it was posted in, whose head is then responsible."""
    if network.is_microgrid(posted_in):
        return posted_in
    if building:
        covering = network.microgrid_covering(posted_in.id, building, unit)
        if covering is not None:
            return covering
    return posted_in


def responsible_members(node: Node) -> list[Member]:
    """Who is @-mentioned on a new ticket: the node's head (co-handlers come from routing rules)."""
    return [node.head]
