"""Where each notice about a ticket goes (design §7: "notices reach the reporter where they asked,
and every group a ticket was escalated to hears when it is claimed or resolved").

A transition (`flows.lifecycle`) says whom a notice is for (`Reply.to`, an `Audience`); this module
turns that into groups, from where the ticket has been:

- the reporter: the group the request was posted in (`ticket.group_room`), and the households
  whose reports of the same problem were joined to it (一事多报), each in their own group;
- the handler: the group of the nearest node, from the ticket's own node up, that the handler
  heads or is a deputy of (else the group where the ticket waits);
- where it waits: the group of the node that must act on it now (its own, or the one it was
  escalated to last);
- a previous handler (a takeover): that member's group, found the same way;
- the calls: every group that was asked to act on it or told of it (the reporter's, its own
  node's, each group it was escalated to), to be told once it is taken, resolved or withdrawn,
  so that the call to action there is closed;
- here: where the command was said; whoever said it always hears something there (when no
  notice went there, the first one again, without its @-mentions).

One post per group per command: a second notice for a group already addressed adds its
@-mentions to that post (a takeover in the reporter's group @-mentions the reporter and the
previous handler in one post); a notice for the calls, or an acknowledgement here, is left out
where a group has heard already. Pure: no I/O, the network passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from flows.escalation import current_node, escalated_nodes
from flows.lifecycle import Audience, Reply
from flows.network import Network
from flows.roles import is_head_or_deputy
from models.tables import Ticket

__all__ = ["Places", "member_room", "places_for", "route"]

# A second notice for a group already addressed adds its mentions to the post there.
_MERGING = frozenset({Audience.REPORTER, Audience.HANDLER, Audience.WAITING,
                      Audience.PREVIOUS_HANDLER})


@dataclass(frozen=True)
class Places:
    """The groups (room ids) a ticket's notices may go to, as `places_for` finds them."""

    here: str | None                 # where the command was said; None when not in a chat (API)
    reporter: str                    # where the request was posted
    waiting: str                     # the group of the node that must act on it now
    handler: str | None              # the handler's own group (after the change); None: nobody
    previous_handler: str | None     # the group of a handler the change replaced
    calls: tuple[str, ...]           # every group told of it, bottom first, each once
    # The households whose reports were joined to it: (room, member id), told what the reporter is.
    followers: tuple[tuple[str, str], ...] = ()


def member_room(network: Network, ticket: Ticket, member_id: str | None) -> str | None:
    """The group of the nearest node, from the ticket's own node up, that `member_id` heads or
    is a deputy of (the ticket's own group for the head of its building or unit, 楼栋长、单元长);
    None when there is none (an API user, a member outside the network)."""
    if not member_id or ticket.node_id not in network:
        return None
    home = network.node(ticket.node_id)
    if network.heads_place(member_id, home.id, ticket.building, ticket.unit):
        return home.group.room
    for node in (home, *network.ancestors(home.id)):
        if is_head_or_deputy(node, member_id):
            return node.group.room
    return None


def places_for(network: Network, ticket: Ticket, here: str | None,
               previous_assignee_id: str | None = None,
               followers: Iterable[tuple[str, str]] = ()) -> Places:
    """Where `ticket`'s notices go, the ticket as it is after the change. `previous_assignee_id`
    is its handler before the change, told when someone else took it over; `followers` the
    (room, member id) of each household whose report was joined to it."""
    calls = [ticket.group_room]
    if ticket.node_id in network:
        waiting = current_node(network, ticket).group.room
        calls.append(network.node(ticket.node_id).group.room)
        calls.extend(node.group.room for node in escalated_nodes(network, ticket))
    else:  # a node taken out of the config since: only the reporter's group is known
        waiting = ticket.group_room
    replaced = previous_assignee_id if previous_assignee_id != ticket.assignee_id else None
    return Places(here=here, reporter=ticket.group_room, waiting=waiting,
                  handler=member_room(network, ticket, ticket.assignee_id),
                  previous_handler=(member_room(network, ticket, replaced) or waiting)
                  if replaced else None,
                  calls=tuple(dict.fromkeys(calls)),
                  followers=tuple(dict.fromkeys(f for f in followers if f[1] != ticket.reporter_id)))


def _rooms(audience: Audience, places: Places) -> list[str]:
    if audience == Audience.HERE:
        return [places.here] if places.here else []
    if audience == Audience.REPORTER:
        return list(dict.fromkeys([places.reporter, *(room for room, _ in places.followers)]))
    if audience == Audience.HANDLER:
        return [places.handler or places.waiting]
    if audience == Audience.WAITING:
        return [places.waiting]
    if audience == Audience.PREVIOUS_HANDLER:
        return [places.previous_handler] if places.previous_handler else []
    return list(places.calls)


def route(replies: Iterable[Reply], places: Places) -> list[Reply]:
    """The posts of one command's notices: each reply with an audience (`Reply.to`) becomes a
    reply with its group set (`room`), one post per group as the module says; replies without
    one are kept as they are (in the command's group, or the room they name). When nothing was
    said where the command was, the first notice is repeated there without its @-mentions."""
    posts: list[Reply] = []
    addressed: dict[str, int] = {}   # room → index in posts, of the notices routed here
    heard_here = False
    first_routed: Reply | None = None
    for reply in replies:
        if reply.to is None or reply.recipient:
            posts.append(reply)
            heard_here = heard_here or (reply.room is None and not reply.recipient) \
                or (reply.room is not None and reply.room == places.here)
            continue
        first_routed = first_routed or reply
        for room in _rooms(reply.to, places):
            post = reply
            if reply.to == Audience.REPORTER and places.followers:
                # The households that reported the same problem hear it with the reporter.
                joined = tuple(member for where, member in places.followers if where == room)
                own = reply.mentions if room == places.reporter else ()
                post = replace(reply, mentions=tuple(dict.fromkeys(own + joined)))
            if room in addressed:
                if post.to in _MERGING and post.mentions:
                    earlier = posts[addressed[room]]
                    posts[addressed[room]] = replace(earlier, mentions=tuple(dict.fromkeys(
                        earlier.mentions + post.mentions)))
                continue
            addressed[room] = len(posts)
            posts.append(replace(post, room=room, to=None))
            heard_here = heard_here or room == places.here
    if not heard_here and first_routed is not None and places.here:
        posts.append(Reply(first_routed.text, room=places.here))
    return posts
