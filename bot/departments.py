"""Departments called in on a ticket (呼叫, 部门报到; Beijing's 街乡吹哨、部门报到): a head calls a
department of `departments:` in the config, its group is posted once (else each member
privately), a member answers `报到 #12` within the department's `report_within`, then acts on
the ticket like a co-handler; a department that has not reported in time is posted once to the
head who called it (`tell_late`, run by the scheduler)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, update
from sqlmodel import Session, select

from flows import lifecycle, texts
from flows.config import Department, GridConfig
from flows.escalation import ACTIVE_STATUSES, format_chinese_duration
from flows.lifecycle import Actor, Audience, EventRecord, Outcome, Reply, Role, refuse
from models.tables import DepartmentCall, Ticket

if TYPE_CHECKING:
    from bot.dispatch import Context, Dispatcher

_calls = DepartmentCall.__table__
_MAY_CALL = (Role.HANDLER, Role.GRID_HEAD, Role.SUPERIOR, Role.ESCALATED_TO)


def call(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, written: str,
         context: Context) -> Outcome:
    """`呼叫 #12 城管` (or `吹哨 #12 @城管`): the handler or a head of the ticket's grid or above
    calls the department named in `written` in; once per department and ticket."""
    config = dispatcher.config
    action = texts.ACTIONS["呼叫"]
    if not config.departments:
        return refuse(texts.NO_DEPARTMENTS)
    department = config.department_named(written.split()[0]) if written.split() else None
    if department is None:
        return refuse(texts.DEPARTMENT_USAGE.format(
            names="、".join(d.name for d in config.departments)))
    if not actor.is_any(*_MAY_CALL):
        return refuse(texts.NOT_A_HEAD_OF_TICKET.format(number=ticket.id, action=action))
    if ticket.status not in ACTIVE_STATUSES:
        return refuse(texts.TICKET_FINISHED.format(
            number=ticket.id, status=texts.STATUS_NAMES[ticket.status], action=action))
    session, message = context.session, context.message
    if session.execute(select(_calls.c.id).where(_calls.c.ticket_id == ticket.id,
                                                 _calls.c.department_id == department.id)).first():
        return refuse(texts.DEPARTMENT_ALREADY.format(number=ticket.id, department=department.name))
    session.execute(insert(_calls).values(
        ticket_id=ticket.id, department_id=department.id, called_by=actor.id,
        called_from_room=message.room, called_at=message.at,
        report_due_at=message.at + department.report_within))
    limit = format_chinese_duration(department.report_within)
    origin = dispatcher.network.node(ticket.node_id).name if ticket.node_id in dispatcher.network \
        else ticket.node_id
    text = texts.DEPARTMENT_CALL.format(**lifecycle.headline(ticket), origin=origin,
                                        caller=actor.name, department=department.name, limit=limit)
    members = tuple(member.id for member in department.members)
    posts = ((Reply(text, mentions=members, room=department.group.room),)
             if department.group is not None
             else tuple(Reply(text, recipient=member) for member in members))
    return Outcome(events=(EventRecord("department_called", note=department.name),),
                   replies=(*posts, Reply(texts.DEPARTMENT_CALLED.format(
                       department=department.name, limit=limit), to=Audience.HERE)))


def departments_of(config: GridConfig, member_id: str) -> list[Department]:
    """The departments `member_id` is a member of."""
    return [d for d in config.departments if any(m.id == member_id for m in d.members)]


def called_for(session: Session, config: GridConfig, ticket: Ticket,
               member_id: str) -> list[tuple[Department, DepartmentCall]]:
    """The calls on the ticket of the departments `member_id` belongs to."""
    mine = {d.id: d for d in departments_of(config, member_id)}
    if not mine:
        return []
    rows = session.exec(select(DepartmentCall).where(
        DepartmentCall.ticket_id == ticket.id,
        DepartmentCall.department_id.in_(sorted(mine)))).all()
    return [(mine[row.department_id], row) for row in rows]


def report(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str,
           context: Context) -> Outcome:
    """`报到 #12`: a member of a department called on the ticket reports; the head who called
    it hears it where they called (and the member where they said it)."""
    session, message = context.session, context.message
    calls = called_for(session, dispatcher.config, ticket, message.sender_id)
    if not calls:
        return refuse(texts.NOT_CALLED_HERE.format(number=ticket.id))
    replies, events = [], []
    for department, row in calls:
        if row.reported_at is None:
            session.execute(update(_calls).where(_calls.c.id == row.id)
                            .values(reported_at=message.at, reported_by=message.sender_id))
            events.append(EventRecord("department_reported", note=department.name))
        said = texts.DEPARTMENT_REPORTED.format(number=ticket.id, department=department.name,
                                                name=actor.name)
        replies += [Reply(said, mentions=(row.called_by,), room=row.called_from_room),
                    Reply(said, to=Audience.HERE)]
    return Outcome(events=tuple(events), replies=tuple(replies))


def is_called_member(session: Session, config: GridConfig, ticket: Ticket, member_id: str) -> bool:
    """Whether `member_id` belongs to a department called on the ticket (then they act on it as a
    co-handler)."""
    return bool(called_for(session, config, ticket, member_id))


def tell_late(session: Session, config: GridConfig, now: datetime
              ) -> Iterable[tuple[Ticket, Outcome, str]]:
    """The calls whose department has not reported by `now`, each told once to the head who
    called it, in the group they called from: (ticket, its outcome, that room)."""
    departments = {d.id: d for d in config.departments}
    rows = session.exec(select(DepartmentCall).where(
        DepartmentCall.report_due_at <= now, DepartmentCall.reported_at.is_(None),
        DepartmentCall.late_told_at.is_(None)).order_by(DepartmentCall.id).limit(500)).all()
    for row in rows:
        session.execute(update(_calls).where(_calls.c.id == row.id).values(late_told_at=now))
        department = departments.get(row.department_id)
        ticket = session.get(Ticket, row.ticket_id)
        if department is None or ticket is None or ticket.status not in ACTIVE_STATUSES:
            continue
        text = texts.DEPARTMENT_LATE.format(
            number=ticket.id, department=department.name,
            limit=format_chinese_duration(department.report_within))
        yield ticket, Outcome(events=(EventRecord("department_late", note=department.name),),
                              replies=(Reply(text, mentions=(row.called_by,),
                                             room=row.called_from_room),)), row.called_from_room
