"""Where a ticket escalates (吹哨): one level up the network at a time (design §7).

A ticket's escalation level counts the steps above its home node (0 = the node it was routed to,
normally a micro-grid; 1 = its parent, …). These helpers say which node a ticket stands at and
which comes next; the 吹哨 command and the scheduler's timers both move it with them.
"""

from __future__ import annotations

from flows.config import Node
from flows.network import Network
from models.tables import Ticket


def escalated_nodes(network: Network, ticket: Ticket) -> list[Node]:
    """The nodes above the home node the ticket has been escalated to, nearest first."""
    if ticket.escalation_level <= 0 or ticket.node_id not in network:
        return []
    return network.ancestors(ticket.node_id)[:ticket.escalation_level]


def current_node(network: Network, ticket: Ticket) -> Node:
    """The node whose group is answerable for the ticket now."""
    above = escalated_nodes(network, ticket)
    return above[-1] if above else network.node(ticket.node_id)


def next_node(network: Network, ticket: Ticket) -> Node | None:
    """The node one level above where the ticket stands; None at the top of the network."""
    return network.parent(current_node(network, ticket).id)
