"""`/api/circulars`: circulars (通知下发) sent, listed and shown through the API, with the chat's
rules (`通知 <text>`, `紧急通知 <text>`, `通知情况 #7`; bot/circulars.py, flows/circulars.py).

A token sends from its own node, or from a node of its subtree (`node_id`), into the groups
below it; a time (`send_at`) schedules it, and the scheduler sends it then. It sees the circulars
sent within its subtree and those sent from above into it; of each, only its subtree's groups.
Anything else is 404, like a ticket outside the subtree.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from api.auth import caller, not_found, the_bot
from api.params import MAX_TICKET_NUMBER, moment
from api.tokens import Principal
from bot import circulars
from bot.outbox import PostPipeline
from bot.runtime import Bot
from models.tables import ID_LENGTH

router = APIRouter(prefix="/api/circulars", tags=["circulars"])

Caller = Annotated[Principal, Depends(caller)]
TheBot = Annotated[Bot, Depends(the_bot)]
CircularNumber = Annotated[int, Path(ge=1, le=MAX_TICKET_NUMBER,
                                     description="The circular's number, as people see 通知#N.")]
MAX_TEXT = 4_000


class CircularIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="What every group is told.")
    urgent: bool = Field(False, description="紧急通知: @-mentions each group's head and is sent "
                                            "within quiet hours too.")
    down_to: str | None = Field(None, max_length=40, description="A level code of the config "
                                                                "(`branch`): stop there; null: "
                                                                "every level below.")
    node_id: str | None = Field(None, max_length=ID_LENGTH, description="The node it is sent "
                                                                        "from (in my subtree); "
                                                                        "null: my token's node.")
    send_at: datetime | None = Field(None, description="When to send it (a time with its offset, "
                                                       "or local time); null: now. One that is "
                                                       "not urgent waits out quiet hours.")


class GroupOut(BaseModel):
    """One group the circular was posted into."""

    node_id: str
    group: str
    head: str
    posted_at: datetime = Field(description="When its post was written to the outbox.")
    delivered_at: datetime | None = Field(description="When the chat service took it; null "
                                                      "while it waits its turn.")
    head_receipt_at: datetime | None = Field(description="The head's (or deputy's) 收到.")
    head_receipt_by: str | None
    resident_receipts: int = Field(description="Residents who answered 收到 in the group.")
    reminded: bool = Field(description="Whether its head was reminded.")


class CircularOut(BaseModel):
    """A circular and, for the groups of my subtree, when each got it and who confirmed."""

    number: int
    node_id: str
    sender: str
    text: str
    urgent: bool
    down_to: str | None
    created_at: datetime
    send_at: datetime
    sent_at: datetime | None = Field(description="When its posts were written; null while it "
                                                 "waits for its time.")
    reminded_at: datetime | None
    groups: list[GroupOut]


class CircularSummary(BaseModel):
    number: int
    sender: str
    text: str
    urgent: bool
    created_at: datetime
    send_at: datetime
    sent_at: datetime | None
    groups: int = Field(description="Groups of my subtree it was posted into.")
    confirmed: int = Field(description="Of those, how many heads answered 收到.")


def send_circular(bot: Bot, principal: Principal, body: CircularIn) -> int:
    """Record (and, when due, post) a circular for the caller; returns its number. 404 for a
    node outside the subtree, 422 for an unknown level or no group below."""
    network = bot.network
    node_id = body.node_id or principal.node_id
    if node_id not in network or not (principal.top or node_id in principal.subtree):
        raise not_found(f"node {node_id!r}")
    if body.down_to is not None and body.down_to not in network.levels:
        raise HTTPException(422, f"down_to: one of {', '.join(network.levels)} expected, "
                                 f"got {body.down_to!r}")
    now = bot.clock()
    wanted = moment("send_at", body.send_at, bot.dispatcher.zone)
    node = network.node(node_id)
    with bot.db.session() as session:
        issued = circulars.issue(
            session, network, PostPipeline.of(bot.config, network), bot.config.policy, node=node,
            sender_id=principal.actor_id, label=circulars.sender_label(node, principal.name), text=body.text.strip(),
            urgent=body.urgent, down_to=body.down_to, source_id=f"api:{uuid.uuid4().hex}",
            room=None, now=now, wanted=wanted)
        if issued is None:
            raise HTTPException(422, f"no group below {node.name} to send to")
        return issued.number


def shown(bot: Bot, principal: Principal, number: int) -> CircularOut:
    with bot.db.session() as session:
        found = circulars.history(session, bot.network, principal.node_id, number)
    if found is None:
        raise not_found(f"circular {number}")
    return CircularOut(**{**found, "groups": [GroupOut(**group) for group in found["groups"]]})


@router.post("", response_model=CircularOut, status_code=201, summary="通知: send a circular",
             responses={404: {"description": "The node is not in my subtree"},
                        422: {"description": "An unknown level, a bad time, no group below"}})
async def create(body: CircularIn, bot: TheBot, principal: Caller) -> CircularOut:
    """As `通知 <text>` (`紧急通知` with `urgent`) said by the head of `node_id`: posted into every
    group below it, once each, through the outbox; at `send_at` when given."""
    number = send_circular(bot, principal, body)
    await bot.deliver()
    return shown(bot, principal, number)


@router.get("", response_model=list[CircularSummary], summary="The circulars of my subtree")
def list_circulars(bot: TheBot, principal: Caller) -> list[CircularSummary]:
    """The newest circulars sent within my subtree or from above into it, newest first."""
    with bot.db.session() as session:
        return [CircularSummary(**row) for row in
                circulars.listing(session, bot.network, principal.node_id)]


@router.get("/{number}", response_model=CircularOut, summary="通知情况: one circular's history",
            responses={404: {"description": "No such circular in my subtree"}})
def show(number: CircularNumber, bot: TheBot, principal: Caller) -> CircularOut:
    """Who sent it and when, and each group of my subtree: when it was posted and delivered,
    the head's receipt, the residents' receipts, whether the head was reminded."""
    return shown(bot, principal, number)
