"""`POST /api/tickets/{number}/…`: the chat actions, done by an API user.

Each goes through the same transition of `flows.lifecycle` as its chat command, is recorded as an
event with the token's holder as actor, and posts the same notice in the ticket's group. A refusal
(not allowed, already closed, …) is 409 with the reason the chat would have given, and changes
nothing. The caller acts with the rights of a head of the token's node over its subtree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session, select

from api.auth import caller, not_found, the_bot
from api.params import TicketNumber
from api.schemas import TicketOut
from api.tokens import Principal
from bot.dispatch import apply_outcome, extensions_of, heads_of, verifiers_of
from bot.outbox import PostPipeline, post_values, write_posts
from bot.repeat_reports import followers
from bot.runtime import Bot
from flows import lifecycle, texts
from flows.config import Member
from flows.escalation import current_node, escalated_nodes, next_node
from flows.lifecycle import Actor, Outcome, Role, Target
from flows.notice_routing import places_for
from flows.notice_routing import route as route_notices
from flows.masking import masked_for_node
from flows.roles import may_handle
from models.tables import ID_LENGTH, Ticket

router = APIRouter(prefix="/api/tickets", tags=["actions"])


def _without_nul(value: str) -> str:
    return value.replace("\x00", "")  # PostgreSQL refuses NUL in text; both backends drop it


class Note(BaseModel):
    note: str = Field("", description="Free text: the progress, the result, the reason; at most "
                                      "policy.max_message_length characters.")

    _clean = field_validator("note")(_without_nul)


class Handover(BaseModel):
    to: str = Field(max_length=ID_LENGTH,
                    description="Member id of the head or deputy to hand the ticket to.")


class Refusal(BaseModel):
    reason: str = Field("", description="Why the extension is refused (required, as in chat); at "
                                        "most policy.max_message_length characters.")

    _clean = field_validator("reason")(_without_nul)


class Rating(BaseModel):
    rating: Literal["满意", "基本满意", "不满意"]
    comment: str = Field("", description="At most policy.max_message_length characters.")

    _clean = field_validator("comment")(_without_nul)


def written(bot: Bot, name: str, value: str) -> str:
    """Free text of a request, stripped; longer than a chat message may be is 422."""
    limit = bot.config.policy.max_message_length
    if len(value) > limit:
        raise HTTPException(422, f"{name}: at most {limit} characters (policy.max_message_length), "
                                 f"got {len(value)}")
    return value.strip()


def roles_of(bot: Bot, principal: Principal, ticket: Ticket, on_behalf: bool) -> frozenset[Role]:
    """An API user acts as a head of its token's node."""
    roles = {Role.IN_SCOPE}
    if principal.node_id == ticket.node_id:
        roles.add(Role.GRID_HEAD)
    elif ticket.node_id in bot.network and principal.node_id in {
            node.id for node in bot.network.ancestors(ticket.node_id)}:
        roles.add(Role.SUPERIOR)
    if ticket.node_id in bot.network and principal.node_id in {
            node.id for node in escalated_nodes(bot.network, ticket)}:
        roles.add(Role.ESCALATED_TO)
    if ticket.assignee_id == principal.actor_id:
        roles.add(Role.HANDLER)
    if on_behalf:
        roles.add(Role.REPORTER)   # 评价 on behalf of a resident who rated by phone or in person
    return frozenset(roles)


def target(bot: Bot, ticket: Ticket, member_id: str) -> Target:
    name = bot.network.member_name(member_id)
    if name is None:
        return Target(None, problem=texts.UNKNOWN_MEMBER.format(name=member_id))
    return Target(Member(id=member_id, name=name),
                  may_handle=may_handle(bot.network, ticket, member_id))


Transition = Callable[[Bot, Session, Ticket, Actor], Outcome]


def act(bot: Bot, principal: Principal, number: int, transition: Transition,
        on_behalf: bool = False) -> TicketOut:
    now = bot.clock()
    with bot.db.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.id == number).with_for_update()).first()
        if ticket is None or not principal.sees(ticket):
            raise not_found(f"ticket #{number}")
        actor = Actor(principal.actor_id, principal.name,
                      roles_of(bot, principal, ticket, on_behalf))
        outcome = transition(bot, session, ticket, actor)
        if not outcome.accepted:
            refusal = outcome.replies[0].text if outcome.replies else "not allowed"
            raise HTTPException(409, refusal)
        previous = ticket.assignee_id
        apply_outcome(session, ticket, actor, outcome, now, None, bot.config.policy)
        # Each notice where it is for (the reporter's group, the handler's, the groups asked to
        # act); no chat group is "here" for an API user.
        replies = route_notices(outcome.replies, places_for(bot.network, ticket, None, previous,
                                                            followers(session, ticket)))
        write_posts(session, [post_values(reply, ticket.group_room, None, now)
                              for reply in replies],
                    PostPipeline.of(bot.config, bot.network))
        session.flush()
        result = TicketOut.of(ticket, bot.network, now,
                              masked=masked_for_node(bot.network, principal.node_id))
    return result


Caller = Annotated[Principal, Depends(caller)]
TheBot = Annotated[Bot, Depends(the_bot)]
RESPONSES = {404: {"description": "No such ticket in my subtree"},
             409: {"description": "Refused; the detail says why, as the chat would"}}


async def done(bot: Bot, result: TicketOut) -> TicketOut:
    await bot.deliver()  # the notices go out now, as after a chat command
    return result


@router.post("/{number}/claim", response_model=TicketOut, responses=RESPONSES, summary="接单")
async def claim(number: TicketNumber, bot: TheBot, principal: Caller) -> TicketOut:
    return await done(bot, act(bot, principal, number,
                               lambda b, s, t, a: lifecycle.claim(t, a, b.clock())))


@router.post("/{number}/progress", response_model=TicketOut, responses=RESPONSES, summary="进展")
async def progress(number: TicketNumber, body: Note, bot: TheBot, principal: Caller) -> TicketOut:
    note = written(bot, "note", body.note)
    return await done(bot, act(bot, principal, number,
                               lambda b, s, t, a: lifecycle.note_progress(t, a, note)))


@router.post("/{number}/resolve", response_model=TicketOut, responses=RESPONSES, summary="办结")
async def resolve(number: TicketNumber, body: Note, bot: TheBot, principal: Caller) -> TicketOut:
    note = written(bot, "note", body.note)
    return await done(bot, act(bot, principal, number,
                               lambda b, s, t, a: lifecycle.resolve(
                                   t, a, note, b.clock(), verifiers_of(b.config, b.network, t, a.id))))


@router.post("/{number}/return", response_model=TicketOut, responses=RESPONSES, summary="退单")
async def give_back(number: TicketNumber, body: Note, bot: TheBot, principal: Caller) -> TicketOut:
    note = written(bot, "note", body.note)
    return await done(bot, act(bot, principal, number, lambda b, s, t, a: lifecycle.give_back(
        t, a, note, heads_of(b.dispatcher, t))))


@router.post("/{number}/transfer", response_model=TicketOut, responses=RESPONSES, summary="转派")
async def transfer(number: TicketNumber, body: Handover, bot: TheBot, principal: Caller) -> TicketOut:
    return await done(bot, act(bot, principal, number, lambda b, s, t, a: lifecycle.transfer(
        t, a, target(b, t, body.to))))


@router.post("/{number}/dispatch", response_model=TicketOut, responses=RESPONSES, summary="派单")
async def dispatch(number: TicketNumber, body: Handover, bot: TheBot, principal: Caller) -> TicketOut:
    return await done(bot, act(bot, principal, number, lambda b, s, t, a: lifecycle.dispatch(
        t, a, target(b, t, body.to), b.clock())))


@router.post("/{number}/escalate", response_model=TicketOut, responses=RESPONSES, summary="吹哨")
async def escalate(number: TicketNumber, body: Note, bot: TheBot, principal: Caller) -> TicketOut:
    note = written(bot, "note", body.note)
    return await done(bot, act(bot, principal, number, lambda b, s, t, a: lifecycle.blow_whistle(
        t, a, note, current_node(b.network, t), next_node(b.network, t))))


@router.post("/{number}/rate", response_model=TicketOut, responses=RESPONSES,
             summary="评价, on behalf of the resident")
async def rate(number: TicketNumber, body: Rating, bot: TheBot, principal: Caller) -> TicketOut:
    text = f"{body.rating} {written(bot, 'comment', body.comment)}".strip()
    return await done(bot, act(bot, principal, number,
                               lambda b, s, t, a: lifecycle.rate(t, a, text, b.clock()),
                               on_behalf=True))


def _decide_extension(granted: bool, reason: str) -> Transition:
    """同意延期 / 不同意延期 by the token's node: the chat's transition with the chat's context
    (the ticket's extensions so far from its history, its timers and the working calendar)."""
    def transition(bot: Bot, session: Session, ticket: Ticket, actor: Actor) -> Outcome:
        return lifecycle.decide_extension(
            ticket, actor, granted, reason, extensions_of(session, ticket),
            bot.config.policy.timers_for(ticket.category, ticket.urgent), bot.dispatcher.zone)
    return transition


@router.post("/{number}/extension/grant", response_model=TicketOut, responses=RESPONSES,
             summary="同意延期: grant the extension the handler asked for")
async def grant_extension(number: TicketNumber, bot: TheBot, principal: Caller) -> TicketOut:
    """As `同意延期 #12` by a head of the token's node: only above the ticket's grid (the
    token's node an ancestor of the ticket's), and only while an extension waits."""
    return await done(bot, act(bot, principal, number, _decide_extension(True, "")))


@router.post("/{number}/extension/refuse", response_model=TicketOut, responses=RESPONSES,
             summary="不同意延期: refuse the extension the handler asked for, with a reason")
async def refuse_extension(number: TicketNumber, body: Refusal, bot: TheBot,
                           principal: Caller) -> TicketOut:
    """As `不同意延期 #12 原因`: the same rule as granting; without a reason, 409 as in chat."""
    reason = written(bot, "reason", body.reason)
    return await done(bot, act(bot, principal, number, _decide_extension(False, reason)))
