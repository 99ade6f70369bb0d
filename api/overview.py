"""`/api/network`, `/api/nodes/{id}/figures` and `/api/transport`: the shape of my subtree, its
figures over a period, and how the chat transport is doing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import and_, not_
from sqlmodel import func, select

from api.auth import caller, not_found, the_bot
from api.params import moment
from api.rates import rates_out
from api.schemas import AccountHealth, FiguresOut, NodeOut, TransportHealth
from api.tokens import Principal
from bot.digest_runs import gather_digest_figures
from bot.outbox import dead_letter_count, pending_count
from bot.runtime import Bot
from flows.network import Network
from models.subtrees import open_tree_at, rooms_of_subtree
from models.tables import OutboundPost

router = APIRouter(prefix="/api", tags=["network"])


@router.get("/network", response_model=NodeOut,
            summary="My subtree, with open tickets per node and per subtree")
def network_tree(bot: Annotated[Bot, Depends(the_bot)],
                 principal: Annotated[Principal, Depends(caller)],
                 depth: Annotated[int | None, Query(
                     ge=0, le=50, description="Levels below my node to include (0: my node "
                                              "alone, without children). Default: all.")] = None,
                 ) -> Response:
    with bot.db.session() as session:
        tree = open_tree_at(session, bot.network, principal.node_id, bot.clock())
    # Written as UTF-8 JSON, node after node in depth-first order, from each node's fixed part
    # (encoded once per network) and its counts' part (`_counts_part`): the city's tree has
    # 33,431 nodes, and a model per node, validated twice, took seconds. NodeOut documents the
    # shape; a test holds the two to each other.
    network = bot.network
    fixed, depths = _fixed_parts(network), _depths(network)
    top = tree.first
    counts = zip(tree.here, tree.here_late, tree.inside, tree.inside_late, tree.above,
                 tree.above_late)
    if depth is None:   # the whole subtree: consecutive positions, their joints written once
        positions = range(top, top + len(tree.nodes))
        heads = [fixed[top], *_leads(network)[top + 1:top + len(tree.nodes)]]
    else:
        deepest = depths[top] + depth
        kept = [(position, count) for position, count in zip(range(top, top + len(tree.nodes)),
                                                           counts) if depths[position] <= deepest]
        positions = [position for position, _ in kept]
        counts = (count for _, count in kept)
        heads = (_joint(depths, previous, position) + fixed[position] if previous is not None
                 else fixed[position] for previous, position in zip([None, *positions], positions))
    body = b"".join(chain.from_iterable(zip(heads, map(_counts_part, counts))))
    return Response(body + b"]}" * (depths[positions[-1]] - depths[top] + 1),
                    media_type="application/json")


_COUNTS = (b'"open":%d,"overdue":%d,"subtree_open":%d,"subtree_overdue":%d,'
           b'"escalated_above_open":%d,"escalated_above_overdue":%d,"children":[')
_COUNTS_KEPT = 100_000   # distinct count tuples kept written (a city's tree has about 500)


@lru_cache(maxsize=_COUNTS_KEPT)
def _counts_part(counts: tuple[int, int, int, int, int, int]) -> bytes:
    """A node's counts as JSON, up to its children: (open, overdue, subtree_open,
    subtree_overdue, escalated_above_open, escalated_above_overdue). Most nodes of a tree share
    a few hundred tuples, so each is formatted once and kept."""
    return _COUNTS % counts


@lru_cache(maxsize=4)
def _fixed_parts(network: Network) -> list[bytes]:
    """Each node's JSON up to its counts, UTF-8, by position in the depth-first order:
    `{"id":…,"name":…,"level":…,"group_name":…,"head_name":…,` (names as configured, so
    written once per network)."""
    def field(name: str, value: str) -> str:
        return f'"{name}":{json.dumps(value, ensure_ascii=False)},'

    nodes = [network.node(node_id) for node_id in network.order]
    return [("{" + field("id", node.id) + field("name", node.name) + field("level", node.level)
             + field("group_name", node.group.name) + field("head_name", node.head.name)
             ).encode() for node in nodes]


def _joint(depths: list[int], previous: int, position: int) -> bytes:
    """What closes between two nodes written one after the other: the objects and children
    lists that end there, then a comma (nothing when `position` is `previous`'s first child)."""
    if depths[position] > depths[previous]:
        return b""
    return b"]}" * (depths[previous] - depths[position] + 1) + b","


@lru_cache(maxsize=4)
def _leads(network: Network) -> list[bytes]:
    """Each position's joint with the one before it and its fixed part, as one piece: what
    a whole subtree's JSON writes before each node's counts."""
    fixed, depths = _fixed_parts(network), _depths(network)
    return [fixed[0], *(_joint(depths, position - 1, position) + fixed[position]
                        for position in range(1, len(fixed)))]


@lru_cache(maxsize=4)
def _depths(network: Network) -> list[int]:
    """Each node's depth (0: the top), by position in the depth-first order."""
    return [network.depth(node_id) for node_id in network.order]


@router.get("/nodes/{node_id}/figures", response_model=FiguresOut,
            summary="A node's counts over a period (the digest's figures)",
            responses={404: {"description": "No such node in my subtree"}})
def node_figures(node_id: str, bot: Annotated[Bot, Depends(the_bot)],
                 principal: Annotated[Principal, Depends(caller)],
                 since: Annotated[datetime | None, Query(
                     description="Default: a day before `until`; without an offset, in "
                                 "policy.timezone.")] = None,
                 until: Annotated[datetime | None, Query(
                     description="Default: now; without an offset, in policy.timezone.")] = None,
                 ) -> FiguresOut:
    if node_id not in principal.subtree:
        raise not_found(f"node {node_id!r}")
    zone = ZoneInfo(bot.config.policy.timezone)
    since, until = moment("since", since, zone), moment("until", until, zone)
    until = until or bot.clock()
    since = since or until - timedelta(days=1)
    with bot.db.session() as session:
        figures = gather_digest_figures(session, bot.network, bot.network.node(node_id), since,
                                        until)

    def minutes(duration: timedelta | None) -> float | None:
        return None if duration is None else round(duration.total_seconds() / 60, 1)

    return FiguresOut(node_id=node_id, since=since, until=until, new=figures.new,
                      claimed=figures.claimed, resolved=figures.resolved,
                      overdue=figures.overdue, average_claim_minutes=minutes(figures.average_claim),
                      average_resolve_minutes=minutes(figures.average_resolve),
                      ratings={r: figures.ratings.get(r, 0) for r in ("满意", "基本满意", "不满意")},
                      extensions=figures.extensions, departments_late=figures.departments_late,
                      rates=None if figures.rates is None else rates_out(figures.rates))


def outbox_in_scope(bot: Bot, principal: Principal | None) -> tuple[int, int]:
    """(posts waiting, dead letters) for the groups of the caller's subtree; the whole network's
    (private posts too) only for a token at its top, or without a caller: a count from elsewhere
    tells nothing about others' groups."""
    if principal is None or principal.node_id == bot.network.root.id:
        return pending_count(bot.db), dead_letter_count(bot.db)
    undelivered = and_(OutboundPost.delivered_at.is_(None),  # type: ignore[union-attr]
                       OutboundPost.room.in_(rooms_of_subtree(bot.network, principal.node_id)))  # type: ignore[union-attr]
    dead = OutboundPost.dead_at.is_not(None)  # type: ignore[union-attr]
    with bot.db.session() as session:
        pending, dead_letters = session.exec(select(
            func.count().filter(not_(dead)), func.count().filter(dead)
        ).select_from(OutboundPost).where(undelivered)).one()
    return pending, dead_letters


def transport_health(bot: Bot, principal: Principal | None = None) -> TransportHealth:
    """The transport's health (`bot.transports.health`; a transport without one, the simulator,
    is always connected) with the outbox counts of the caller's scope."""
    health = getattr(bot.transport, "health", None)
    pending, dead = outbox_in_scope(bot, principal)
    if health is None:
        return TransportHealth(kind=bot.config.transport.kind, connected=True,
                               pending_posts=pending, dead_letters=dead)
    return TransportHealth(
        kind=bot.config.transport.kind, target=health.target or None, connected=health.connected,
        ready=health.unready_reason(bot.config.transport.unready_after) is None,
        last_event_at=health.last_event_at, reconnects=health.reconnects,
        last_success_at=health.last_success_at, last_error_at=health.last_error_at,
        last_error=health.last_error, attempts_since_success=health.attempts_since_success,
        failing_since=health.failing_since, pending_posts=pending, dead_letters=dead,
        accounts=[_account(account, one, bot.config.transport.unready_after)
                  for account, one in getattr(health, "accounts", {}).items()])


def _account(account: str, health, unready_after) -> AccountHealth:
    return AccountHealth(
        id=account, target=health.target or None, connected=health.connected,
        ready=health.unready_reason(unready_after) is None, last_event_at=health.last_event_at,
        last_success_at=health.last_success_at, last_error_at=health.last_error_at,
        last_error=health.last_error, attempts_since_success=health.attempts_since_success,
        failing_since=health.failing_since)


@router.get("/transport", response_model=TransportHealth, summary="The chat transport's health")
def transport(bot: Annotated[Bot, Depends(the_bot)],
              principal: Annotated[Principal, Depends(caller)]) -> TransportHealth:
    return transport_health(bot, principal)
