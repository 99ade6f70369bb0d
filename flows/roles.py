"""What a member may do with a ticket, worked out from the network (design §4's "who" column)."""

from __future__ import annotations

from flows.config import Node
from flows.escalation import escalated_nodes
from flows.lifecycle import Role
from flows.network import Network, role_ids
from flows.routing import co_handlers
from models.tables import Ticket


def is_head_or_deputy(node: Node, member_id: str) -> bool:
    return member_id in role_ids(node)


def may_handle(network: Network, ticket: Ticket, member_id: str) -> bool:
    """Whether a ticket may be handed to this member (转派, 派单): a head or deputy of the ticket's
    node or of a node above it, or the head of the ticket's building or unit (楼栋长、单元长)."""
    node = network.get(ticket.node_id)
    return node is not None and (any(
        is_head_or_deputy(chain_node, member_id)
        for chain_node in (node, *network.ancestors(node.id)))
        or network.heads_place(member_id, node.id, ticket.building, ticket.unit))


def roles_for(network: Network, ticket: Ticket, member_id: str, speaking_in: Node | None) -> frozenset[Role]:
    roles: set[Role] = set()
    if ticket.reporter_id == member_id:
        roles.add(Role.REPORTER)
    if ticket.assignee_id == member_id:
        roles.add(Role.HANDLER)
    ticket_node = network.get(ticket.node_id)
    if ticket_node is not None:
        if is_head_or_deputy(ticket_node, member_id):
            roles.add(Role.GRID_HEAD)
        elif any(member.id == member_id for member in co_handlers(
                network, ticket_node, ticket.category, ticket.urgent)):
            roles.add(Role.CO_HANDLER)
        if network.heads_place(member_id, ticket_node.id, ticket.building, ticket.unit):
            roles.add(Role.PLACE_HEAD)
        ancestors = network.ancestors(ticket_node.id)
        if any(is_head_or_deputy(ancestor, member_id) for ancestor in ancestors):
            roles.add(Role.SUPERIOR)
        if any(is_head_or_deputy(node, member_id) for node in escalated_nodes(network, ticket)):
            roles.add(Role.ESCALATED_TO)
        if speaking_in is not None and (
            speaking_in.id == ticket_node.id
            or speaking_in.group.room == ticket.group_room
            or any(ancestor.id == speaking_in.id for ancestor in ancestors)
        ):
            roles.add(Role.IN_SCOPE)
    return frozenset(roles)
