"""What a member may do with a ticket, worked out from the network (design §4's "who" column)."""

from __future__ import annotations

from flows.config import Node
from flows.lifecycle import Role
from flows.network import Network
from models.tables import Ticket


def is_head_or_deputy(node: Node, member_id: str) -> bool:
    return node.head.id == member_id or any(d.id == member_id for d in node.deputies)


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
        ancestors = network.ancestors(ticket_node.id)
        if any(ancestor.head.id == member_id for ancestor in ancestors):
            roles.add(Role.SUPERIOR)
        if speaking_in is not None and (
            speaking_in.id == ticket_node.id
            or speaking_in.group.room == ticket.group_room
            or any(ancestor.id == speaking_in.id for ancestor in ancestors)
        ):
            roles.add(Role.IN_SCOPE)
    return frozenset(roles)
