"""Which node a new ticket belongs to, and who must be told: its heads, the head of its building
or unit (楼栋长、单元长) and the co-handlers (协办) the routing rules add (design §6)."""

from __future__ import annotations

from flows.config import CoHandlerRule, Member, Node
from flows.network import Network, role_ids


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


def matches(rule: CoHandlerRule, network: Network, node: Node, category: str, urgent: bool) -> bool:
    """Whether a routing rule holds for a ticket of `category` (a code) and urgency at `node`:
    every matcher the rule gives must hold (`config.CoHandlerRule`)."""
    if rule.categories is not None and category not in rule.categories:
        return False
    if rule.urgent is not None and rule.urgent != urgent:
        return False
    if rule.level is not None and rule.level != node.level:
        return False
    return rule.node is None or rule.node == node.id or any(
        ancestor.id == rule.node for ancestor in network.ancestors(node.id))


def co_handlers(network: Network, node: Node, category: str, urgent: bool) -> list[Member]:
    """The co-handlers (协办) of a ticket of `category` and urgency at `node`: the handler of
    every matching rule of `routing.co_handlers`, in the config's order, each member once, and
    none of the node's own head and deputies (they act as heads already). Follows the ticket's
    current category and urgency, so a 改类 changes them. O(rules × depth)."""
    rules = network.config.routing.co_handlers
    if not rules:
        return []
    own = role_ids(node)
    found: dict[str, Member] = {}
    for rule in rules:
        if rule.handler.id not in own and rule.handler.id not in found \
                and matches(rule, network, node, category, urgent):
            found[rule.handler.id] = rule.handler
    return list(found.values())


def responsible_members(network: Network, node: Node, category: str, urgent: bool,
                        building: str | None = None, unit: str | None = None) -> list[Member]:
    """Who is @-mentioned to claim a ticket: the node's head, the head of the building or unit
    its parsed place lies in (楼栋长、单元长, the nearer one: `Network.place_head`), then its
    co-handlers; each member once. With no place parsed, the head and co-handlers alone."""
    place = network.place_head(node.id, building, unit)
    found: dict[str, Member] = {}
    for member in (node.head, *((place.head,) if place else ()),
                   *co_handlers(network, node, category, urgent)):
        found.setdefault(member.id, member)
    return list(found.values())
