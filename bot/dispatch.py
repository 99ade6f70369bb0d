"""Message → command dispatch: where a chat message becomes a ticket or a change to one.

`Dispatcher.handle_many` (and `handle`, for one) stores the messages first (a redelivered id is a
no-op), then, in one transaction, recognises each command, applies the pure transition from
`flows.lifecycle`, records the events and writes the replies to the outbox. The command table
below reads like design §4.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from bot import attachments, circulars, departments
from bot.outbox import PostPipeline, post_values, write_posts_each
from bot.rate_reports import gather_ranking, weights_of
from bot.repeat_reports import (follower_names, followers, households, is_follower, join_quoted,
                                join_repeat)
from bot.stand_ins import end_leave, standing_in_for, start_leave
from bot.transport import IncomingMessage, OutgoingPost
from flows import lifecycle, overview, texts
from flows.attachments import attachment_line, counted
from flows.commands import (MAX_NUMBERS, CommandText, find_ticket_references, mention_spans,
                            rating_reply, read_category, read_rating, recognize,
                            recognize_in_sentence)
from flows.circulars import quoted_circular, read_circular
from flows.config import GridConfig, Node, Policy
from flows.credentials import mask_credentials
from flows.figures import month_period
from flows.rankings import ranking_text
from flows.escalation import (EscalationClock, clock_after, clock_time, current_node,
                              format_chinese_duration, next_node)
from flows.lifecycle import Actor, Outcome, Reply, Role, Target
from flows.message_forms import Form, read_form
from flows.network import Mention, Network, PlaceHeadOf, fold_name, role_ids
from flows.normalize import is_placeholder_only
from flows.notice_routing import places_for
from flows.notice_routing import route as route_notices
from flows.open_tickets import in_places, open_in
from flows.own_posts import is_notice_form, nearly_same, search_fragment
from flows.repeats import is_me_too, read_notice, report_of
from flows.stand_ins import acting_name, read_leave_until
from flows.working_time import read_amount
from flows.request_parser import Lexicon, analyse
from flows.roles import may_handle, roles_for
from flows.routing import co_handlers, responsible_members, route
from models.db import Database
from models.subtrees import in_subtrees, sync_network
from models.tables import (ID_LENGTH, InboundMessage, MemberName, OutboundPost, Skipped, Status,
                           Ticket, TicketEscalation, TicketEvent)

log = logging.getLogger(__name__)


def _fit_id(value: str) -> str:
    # A digest rather than a cut: a redelivered message must still map to the same stored id.
    if len(value) <= ID_LENGTH:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


# What a backend refuses to store: NUL (PostgreSQL's text) and lone surrogates (not UTF-8).
_REFUSED = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """The text without the characters a database refuses, the same on every backend."""
    return _REFUSED.sub("", text) if _REFUSED.search(text) else text


def fit_to_columns(message: IncomingMessage) -> IncomingMessage:
    """Ids, names and texts from a transport, made storable and to fit the table columns
    whatever their length."""
    optional = {name: storable(value) if value is not None else None
                for name, value in (("quoted", message.quoted),
                                    ("recalled_id", message.recalled_id))}
    fitted = replace(message, id=_fit_id(storable(message.id)),
                     room=_fit_id(storable(message.room)),
                     sender_id=_fit_id(storable(message.sender_id)),
                     sender_name=storable(message.sender_name)[:ID_LENGTH],
                     text=storable(message.text),
                     mention_ids=tuple(storable(one) for one in message.mention_ids), **optional)
    return message if fitted == message else fitted


# A message that failed is tried again after these waits (a minute, then longer), then set
# aside as a dead letter; a stored message nobody handled (the bot stopped) is due after the
# first wait too.
RETRY_WAITS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
               timedelta(hours=2))
MAX_ATTEMPTS = len(RETRY_WAITS) + 1
ERROR_LENGTH = 500


def details_of(message: IncomingMessage,
               media: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """What a retry needs of the message beyond its columns (with `media`, its media as kept,
    `bot.attachments.keep`); None when there is nothing."""
    details: dict[str, Any] = {}
    if media:
        details["media"] = media
    if message.mention_ids:
        details["mention_ids"] = list(message.mention_ids)
    if message.recalled_id is not None:
        details["recalled_id"] = message.recalled_id
    if message.from_bot:
        details["from_bot"] = True
    if message.system:
        details["system"] = True
    if message.private:
        details["private"] = True
    return details or None


def message_of(row: Any) -> IncomingMessage:
    """A stored inbound_message row as the message it was (for a retry)."""
    details = row.details or {}
    return IncomingMessage(
        id=row.message_id, room=row.room, sender_id=row.sender_id, sender_name=row.sender_name,
        text=row.text, at=row.sent_at, quoted=row.quoted,
        mention_ids=tuple(details.get("mention_ids", ())),
        recalled_id=details.get("recalled_id"), from_bot=bool(details.get("from_bot")),
        system=bool(details.get("system")), media=attachments.media_of(details.get("media", ())),
        private=bool(details.get("private")))


# Core statements for the rows a change adds: an ORM object each cost more than the insert.
_TICKETS, EVENTS, ESCALATIONS, _INBOUND, _NAMES, _POSTS = (model.__table__ for model in (
    Ticket, TicketEvent, TicketEscalation, InboundMessage, MemberName, OutboundPost))

# A pasted notice is looked for among this many of the bot's latest posts.
RECENT_POSTS = 2000
RETRY_BATCH = 200  # stored messages tried again per scheduler run


def apply_outcome(session: Session, ticket: Ticket, actor: Actor, outcome: Outcome,
                  at: datetime, source_message_id: str | None, policy: Policy) -> None:
    """Change the ticket as the outcome says, record each of its events, and move its
    escalation clock as each event requires."""
    timers_before = policy.timers_for(ticket.category, ticket.urgent)
    for name, value in outcome.changes.items():
        setattr(ticket, name, value)
    timers = policy.timers_for(ticket.category, ticket.urgent)
    clock = EscalationClock(ticket.clock_started_at, ticket.escalation_due_at, ticket.deadline_at)
    escalations = []
    for event in outcome.events:
        clock = clock_after(event.kind, event.from_status, event.to_status, clock, timers, at)
        if event.kind in lifecycle.RETIMING_EVENTS:
            # 改紧急 / 改一般 / 改类: the running timer as if the ticket had been read so at first.
            clock = lifecycle.retimed(clock, ticket.status, timers_before, timers, at)
        if event.kind == "escalated":
            # A 吹哨 by hand takes its level, so the timers never post that level again.
            escalations.append(escalation_row(ticket.id, ticket.escalation_level, 0, "whistle", at))
    ticket.clock_started_at = clock.started_at
    ticket.escalation_due_at, ticket.deadline_at = clock.due_at, clock.deadline_at
    record_events(session, ticket.id, actor, outcome.events, at, source_message_id)
    if escalations:
        session.execute(insert(ESCALATIONS), escalations)


def record_events(session: Session, ticket_id: int, actor: Actor,
                  events: tuple[lifecycle.EventRecord, ...], at: datetime,
                  source_message_id: str | None) -> None:
    if events:
        session.execute(insert(EVENTS), [event_row(ticket_id, actor, event, at, source_message_id)
                                         for event in events])


def event_row(ticket_id: int, actor: Actor, event: lifecycle.EventRecord, at: datetime,
              source_message_id: str | None) -> dict[str, Any]:
    """The ticket_event row of one event, column by column."""
    by = event.by or actor
    return {"ticket_id": ticket_id, "kind": event.kind, "actor_id": by.id,
            "actor_name": by.name, "at": at, "source_message_id": source_message_id,
            "from_status": event.from_status, "to_status": event.to_status, "note": event.note}


def escalation_row(ticket_id: int, level: int, round_: int, cause: str,
                   at: datetime) -> dict[str, Any]:
    """The ticket_escalation row of a ticket reaching `level` (or, at the top, reminder
    `round_`); its unique key makes each go out once."""
    return {"ticket_id": ticket_id, "level": level, "round": round_, "cause": cause, "at": at}


@dataclass(frozen=True)
class Context:
    """What a command handler may look at: the message, where it was said, and the database."""

    session: Session
    message: IncomingMessage
    group: Node          # the node whose group the message was posted in
    command: CommandText


Handler = Callable[["Dispatcher", Context], list[Reply]]


@dataclass(frozen=True)
class CommandRow:
    keyword: str
    who: str        # design §4's "who" column; the transitions enforce it
    handler: Handler


class Dispatcher:
    def __init__(self, config: GridConfig, db: Database, network: Network | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config = config
        self.network = network or Network(config)
        self.db = db
        self.clock = clock
        self.zone = ZoneInfo(config.policy.timezone)
        self.bot_id = config.transport.bot_id
        self.pipeline = PostPipeline.of(config, self.network)
        self.media_store = attachments.MediaStore(attachments.media_folder(config, db.url))
        self.department_rooms = frozenset(d.group.room for d in config.departments if d.group)  # masked, split (bot/outbox.py)
        try:   # scoped queries read subtrees as ranges of the network's numbering
            sync_network(db, self.network, clock())
        except OperationalError as error:   # a full disk or a read-only database: /readyz says so
            log.error("the network's numbering could not be written (%s); views of subtrees "
                      "stay empty until it is", type(error).__name__)

    @cached_property
    def lexicon(self) -> Lexicon:
        """The request parser's vocabulary, built at the first request read (a tenth of a
        second of patterns; a config's own words were checked when the config was)."""
        return self.config.request_lexicon()

    # -- the thin I/O layer -------------------------------------------------------------------

    def handle(self, message: IncomingMessage) -> list[OutgoingPost]:
        """Act on one message once; return the posts it wrote to the outbox (none for chatter)."""
        return self.handle_many([message])[0]

    def handle_many(self, messages: list[IncomingMessage]) -> list[list[OutgoingPost]]:
        """Act on messages that arrived together, in order, each once; returns each one's posts.

        All are stored in one transaction, then acted on in one more, so a burst costs two
        commits rather than two per message. Should acting on any of them fail, that transaction
        is undone and they are acted on one by one: only the failing one stays unhandled.
        """
        received_at = self.clock()
        prepared = [self._fitted(message) for message in messages]
        fresh = self._store(prepared, received_at)
        # Kept as the sender's claim (sent_at); acted on at the time the clocks run on.
        to_act = [(self._on_clock(message, received_at), original_length)
                  for (message, original_length), is_fresh in zip(prepared, fresh) if is_fresh]
        posts = self._act_together(to_act) if len(to_act) > 1 else None
        if posts is None:
            posts = {}
            for one in to_act:
                posts.update(self._act_alone(one))
        return [posts.get(message.id, []) if is_fresh else []
                for (message, _), is_fresh in zip(prepared, fresh)]

    def _fitted(self, message: IncomingMessage) -> tuple[IncomingMessage, int | None]:
        """The message as it is kept, and its original length when it had to be cut."""
        message = fit_to_columns(message)
        limit = self.config.policy.max_message_length
        if len(message.text) <= limit:
            return message, None
        # Kept and acted on cut to the limit, never dropped; the sender is told.
        return replace(message, text=message.text[:limit]), len(message.text)

    def _on_clock(self, message: IncomingMessage, received_at: datetime) -> IncomingMessage:
        """The message at the time its clocks run on: the sender's `at` when it is within the
        tolerance of when the bot received it, else the time received (a wrong phone clock
        neither stops a ticket's timers nor sends it straight to the top)."""
        at = clock_time(message.at, received_at, self.config.policy.sender_clock_tolerance)
        return message if at == message.at else replace(message, at=at)

    def _store(self, prepared: list[tuple[IncomingMessage, int | None]],
               received_at: datetime | None = None) -> list[bool]:
        """Keep the messages before acting on them; for each, False when it was handled
        already, set aside as a dead letter (or comes twice in this batch)."""
        rows: dict[str, dict[str, Any]] = {}
        received_at = received_at or self.clock()
        for message, original_length in prepared:
            if message.id in rows:
                continue
            # Media are written to files first: stored, the message's row says where they are.
            media = [attachments.keep(self.media_store, one, self.config.media.max_bytes)
                     for one in message.media]
            rows.setdefault(message.id, {
                "message_id": message.id, "room": message.room, "sender_id": message.sender_id,
                "sender_name": message.sender_name, "text": message.text,
                "quoted": message.quoted, "sent_at": message.at, "received_at": received_at,
                "original_length": original_length, "details": details_of(message, media),
                # Should this process stop before acting on it, the retry job takes it then.
                "retry_at": received_at + RETRY_WAITS[0]})
        names = self._names_seen(prepared, received_at)
        with self.db.engine.begin() as connection:
            if names:
                connection.execute(self.db.insert_unless_present(_NAMES, ["member_id", "name"]),
                                   names)
            stored = set(connection.execute(
                self.db.insert_unless_present(_INBOUND, ["message_id"])
                .returning(_INBOUND.c.message_id), list(rows.values())).scalars())
            # Stored before but never handled (the bot stopped in between): act on it now.
            unhandled = set(connection.execute(select(_INBOUND.c.message_id).where(
                _INBOUND.c.message_id.in_(list(rows.keys() - stored)),
                _INBOUND.c.handled_at.is_(None), _INBOUND.c.dead_at.is_(None))).scalars()
            ) if len(stored) < len(rows) else set()
        fresh = []
        for message, _ in prepared:
            is_fresh = message.id in stored or message.id in unhandled
            fresh.append(is_fresh)
            stored.discard(message.id)  # the same id later in this batch is a redelivery
            unhandled.discard(message.id)
        return fresh

    def _names_seen(self, prepared: list[tuple[IncomingMessage, int | None]],
                    at: datetime) -> list[dict[str, Any]]:
        """The rows of `member_name` for heads and deputies posting under a name other than the
        config's (a group nickname such as `网格长-邱煥武`), so a mention of it finds them."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for message, _ in prepared:
            member = self.network.member(message.sender_id)
            name = message.sender_name.strip()
            if member is None or not name or name == member.name or name == message.sender_id:
                continue
            rows.setdefault((member.id, name), {
                "member_id": member.id, "name": name, "folded": fold_name(name)[:ID_LENGTH],
                "first_seen_at": at})
        return list(rows.values())

    def _act_together(self, to_act: list[tuple[IncomingMessage, int | None]]
                      ) -> dict[str, list[OutgoingPost]] | None:
        try:
            with self.db.session() as session:
                return self._act_on_stored(session, to_act)
        except Exception:
            log.info("acting on %d messages together failed; one by one now", len(to_act),
                     exc_info=True)
            return None

    def _act_alone(self, one: tuple[IncomingMessage, int | None]) -> dict[str, list[OutgoingPost]]:
        try:
            with self.db.session() as session:
                return self._act_on_stored(session, [one])
        except Exception as error:
            # The message stays stored and unhandled; the retry job tries again after a wait,
            # and sets it aside after the last try. Nothing of the failure reaches the group.
            log.exception("could not act on message %s", one[0].id)
            self._note_failure(one[0].id, error)
            return {}

    def _note_failure(self, message_id: str, error: Exception) -> None:
        """Count a failed try of the message and say when it is tried next: after a longer
        wait each time, and after the last one never (a dead letter, for the operator)."""
        now = self.clock()
        reason = f"{type(error).__name__}: {storable(mask_credentials(str(error)))}"[:ERROR_LENGTH]
        try:
            with self.db.engine.begin() as connection:
                attempts = connection.execute(
                    update(_INBOUND).where(_INBOUND.c.message_id == message_id,
                                           _INBOUND.c.handled_at.is_(None))
                    .values(attempts=_INBOUND.c.attempts + 1, last_error=reason)
                    .returning(_INBOUND.c.attempts)).scalar()
                if attempts is None:
                    return
                dead = attempts >= MAX_ATTEMPTS
                retry_at = None if dead else now + RETRY_WAITS[attempts - 1]
                connection.execute(update(_INBOUND).where(_INBOUND.c.message_id == message_id)
                                   .values(dead_at=now if dead else None, retry_at=retry_at))
            if dead:
                log.error("message %s set aside after %d failed tries (gridbot inbox dead)",
                          message_id, attempts)
        except Exception:
            log.exception("could not record the failure of message %s", message_id)

    def retry_due(self, now: datetime, message_id: str | None = None) -> int:
        """Act on the stored messages due for another try by `now` (failed before, or stored
        by a process that stopped before acting on them), or on `message_id` alone; returns
        how many were tried. Those failing again wait longer, the last time for good."""
        due = [_INBOUND.c.handled_at.is_(None), _INBOUND.c.dead_at.is_(None),
               _INBOUND.c.retry_at <= now]
        if message_id is not None:
            due.append(_INBOUND.c.message_id == message_id)
        with self.db.engine.connect() as connection:
            rows = connection.execute(select(_INBOUND).where(*due).order_by(_INBOUND.c.id)
                                      .limit(RETRY_BATCH)).all()
        for row in rows:
            self._act_alone((self._on_clock(message_of(row), row.received_at),
                             row.original_length))
        return len(rows)

    def _act_on_stored(self, session: Session, to_act: list[tuple[IncomingMessage, int | None]]
                       ) -> dict[str, list[OutgoingPost]]:
        # Claimed first, by one UPDATE of the rows still unhandled: a bot sharing the database
        # that got the same message waits for this transaction (a row lock on PostgreSQL, the
        # write lock on SQLite), then claims nothing. A failure below undoes the claim.
        ids = [message.id for message, _ in to_act]
        claimed = set(session.execute(
            update(_INBOUND).where(_INBOUND.c.message_id.in_(ids),
                                   _INBOUND.c.handled_at.is_(None), _INBOUND.c.dead_at.is_(None))
            .values(handled_at=self.clock(), retry_at=None)
            .returning(_INBOUND.c.message_id)).scalars())
        acted = [(message, self._act(session, message, truncated=original_length is not None))
                 for message, original_length in to_act if message.id in claimed]
        if not acted:
            return {}
        session.flush()  # changes to tickets first, then the batch's posts in one statement
        written = write_posts_each(session, [rows for _, rows in acted], self.pipeline)
        return {message.id: posts for (message, _), posts in zip(acted, written)}

    def _act(self, session: Session, message: IncomingMessage,
             truncated: bool = False) -> list[dict[str, Any]]:
        """Do what the message asks, then keep its media (joined to a ticket when the rules of
        `flows.attachments` find one); returns the outbox rows of its replies, to be written."""
        rows = self._act_on_words(session, message, truncated)
        if message.media:
            rows.extend(self._rows(message, self._attach(session, message)))
        return rows

    def _attach(self, session: Session, message: IncomingMessage) -> list[Reply]:
        """The message's `attachment` rows, and the evidence events of a photo after 办结."""
        in_network = (self.network.node_for_room(message.room) is not None
                      or message.room in self.department_rooms)
        # A 1:1 chat: the rules go by the sender's own acts, whichever group they were in.
        acting = ((in_network or message.private) and not message.from_bot
                  and not message.system and message.sender_id not in (self.bot_id, message.room))
        name = self.network.member_name(message.sender_id) or message.sender_name
        attached = attachments.attach(session, self.config, message, acting, name)
        for ticket_id, outcome in attached.evidence:
            record_events(session, ticket_id, Actor(message.sender_id, name), outcome.events,
                          message.at, message.id)
        return list(attached.replies)

    def _act_on_words(self, session: Session, message: IncomingMessage,
                      truncated: bool = False) -> list[dict[str, Any]]:
        if message.from_bot or message.sender_id == self.bot_id:
            return self._skip(session, message, Skipped.OWN_POST)
        form = read_form(message.text)
        recalled = message.recalled_id or form.recalled_id
        if recalled is not None:
            return self._rows(message, self.recall(session, message, recalled))
        group = self.network.node_for_room(message.room)
        in_department = group is None and message.room in self.department_rooms
        if in_department:
            group = self.network.root   # a department's group: it acts on what it was called to
        if group is None:
            return self._skip(session, message, Skipped.UNKNOWN_ROOM)
        if message.system or form.form == Form.SYSTEM or message.sender_id == message.room:
            return self._skip(session, message, Skipped.SYSTEM)
        if message.quoted is None and form.form == Form.QUOTE:
            message = replace(message, text=form.text, quoted=form.quoted)
        if not in_department:
            # `收到` to a circular (通知下发): quoting it, or bare (the rule: flows/circulars.py).
            heads_here = [message.sender_id, *standing_in_for(session, message.sender_id, message.at)]
            receipt = circulars.receipt(self, session, message, group, heads_here)
            if receipt is not None:
                return self._rows(message, receipt)
        quoting_circular = message.quoted if quoted_circular(message.quoted) is not None else None
        if quoting_circular is not None:
            # A circular's `通知#7` is no ticket number: a reply quoting it refers to no ticket.
            message = replace(message, quoted=None)
        command = recognize(message.text) or rating_reply(message.text, message.quoted)
        if command is None and self.network.leads_anything(message.sender_id):
            # A head's command inside a short sentence (`好的，我接单了`); a resident's is talk.
            command = recognize_in_sentence(message.text)
        if command is None and message.quoted and is_me_too(message.text):
            # `我也是` replying to a notice: the household reports the same problem (一事多报).
            handler = join_quoted
            command = CommandText(keyword="下单", rest=message.text.strip())
        elif command is None:
            # A bare rating (`满意`, `非常满意，谢谢`) from a reporter with a ticket to rate.
            if len(message.text.strip()) > _BARE_RATING_MAX or read_rating(message.text) is None:
                return []
            handler = rate_unquoted
            command = CommandText(keyword="评价", rest=message.text.strip())
        elif in_department and command.keyword not in DEPARTMENT_COMMANDS:
            return []
        elif command.keyword in COMMAND_TABLE:
            handler = COMMAND_TABLE[command.keyword].handler
        else:
            return []
        rest = read_circular(command.rest, self.network.levels).text \
            if command.keyword in ("通知", "紧急通知") else None
        if circulars.is_pasted(session, message.text, rest):
            # A circular, or the 通知 that sent it, pasted: never a request or a command.
            return self._skip(session, message, Skipped.OWN_NOTICE)
        if command.keyword != "下单" and self.is_own_notice(session, message.text):
            return self._skip(session, message, Skipped.OWN_NOTICE)
        if command.keyword == "通知情况" and quoting_circular is not None:
            message = replace(message, quoted=quoting_circular)   # `通知情况` quoting it
        context = Context(session=session, message=message, group=group, command=command)
        replies = handler(self, context)
        if truncated:
            replies.append(Reply(texts.TOO_LONG.format(limit=self.config.policy.max_message_length)))
        return self._rows(message, replies)

    def _rows(self, message: IncomingMessage, replies: list[Reply]) -> list[dict[str, Any]]:
        now = self.clock()
        return [post_values(reply, message.room, message.id, now) for reply in replies]

    def _skip(self, session: Session, message: IncomingMessage,
              reason: Skipped) -> list[dict[str, Any]]:
        """Keep why the message was not acted on (it stays stored); nothing is posted."""
        session.execute(update(_INBOUND).where(_INBOUND.c.message_id == message.id)
                        .values(skipped=reason.value))
        return []

    def is_own_notice(self, session: Session, text: str) -> bool:
        """Whether a member's text (its quote taken off) is a notice of the bot's, pasted: one of
        its notice forms, or one of its latest `RECENT_POSTS` posts copied exactly or nearly."""
        if is_notice_form(text):
            return True
        fragment = search_fragment(text)
        if fragment is None:
            return False
        newest = session.execute(select(func.max(_POSTS.c.id))).scalar_one()
        if newest is None:
            return False
        candidates = session.execute(
            select(_POSTS.c.text).where(_POSTS.c.id > newest - RECENT_POSTS,
                                        _POSTS.c.text.contains(fragment, autoescape=True))
            .order_by(_POSTS.c.id.desc()).limit(20)).scalars()
        return any(nearly_same(text, post) for post in candidates)

    def recall(self, session: Session, message: IncomingMessage, recalled_id: str) -> list[Reply]:
        """撤回 of a message: when it was a request, an open ticket is withdrawn and a handled
        one's handler told (`lifecycle.recall`); anything else recalled changes nothing."""
        ticket = session.exec(select(Ticket).where(
            Ticket.source_message_id == _fit_id(recalled_id)).with_for_update()).first()
        if ticket is None:
            return []
        actor = Actor(message.sender_id or ticket.reporter_id,
                      message.sender_name or ticket.reporter_name)
        outcome = lifecycle.recall(ticket, actor, message.at)
        if not outcome.accepted:
            return []
        previous = ticket.assignee_id
        apply_outcome(session, ticket, actor, outcome, message.at, message.id, self.config.policy)
        here = message.room if self.network.node_for_room(message.room) else None
        return route_notices(outcome.replies, places_for(self.network, ticket, here, previous,
                                                         followers(session, ticket)))

    def notices(self, context: Context, ticket: Ticket, outcome: Outcome,
                previous_assignee_id: str | None) -> list[Reply]:
        """The outcome's replies, each in the group it is for (`flows.notice_routing`)."""
        return route_notices(outcome.replies, places_for(
            self.network, ticket, context.message.room, previous_assignee_id,
            followers(context.session, ticket)))

    def apply(self, context: Context, ticket: Ticket, actor: Actor, outcome: Outcome) -> None:
        apply_outcome(context.session, ticket, actor, outcome, context.message.at,
                      context.message.id, self.config.policy)

    def actor_for(self, context: Context, ticket: Ticket) -> Actor:
        """The sender with their roles for the ticket; a head or deputy under the config's name,
        whatever group nickname they post under (`网格长-邱煥武` is 邱煥武)."""
        message = context.message
        name = self.network.member_name(message.sender_id) or message.sender_name
        roles = roles_for(self.network, ticket, message.sender_id, context.group)
        if message.room in self.department_rooms:
            roles -= {Role.IN_SCOPE}   # a department's group sees only the tickets it was called to
        # Standing in for a head away (请假 … 代理): their roles too, and the history says so.
        for head in self.standing_in_for(context):
            theirs = roles_for(self.network, ticket, head, context.group) - {Role.REPORTER}
            if theirs - roles:
                roles |= theirs
                name = acting_name(name, self.network.member_name(head) or head)
        if is_follower(context.session, ticket, message.sender_id):
            roles |= {Role.FOLLOWER}
        if departments.is_called_member(context.session, self.config, ticket, message.sender_id):
            roles |= {Role.CO_HANDLER}   # a department called in acts like a co-handler
        places = None
        if not roles & {Role.GRID_HEAD, Role.SUPERIOR, Role.CO_HANDLER, Role.PLACE_HEAD}:
            # A building or unit head of another place hears which places are theirs.
            places = "、".join(str(led.place) for led in self.network.places_led_by(message.sender_id)) or None
        return Actor(message.sender_id, name, roles, places)

    def standing_in_for(self, context: Context) -> list[str]:
        """The heads the sender stands in for now (bot/stand_ins.py)."""
        return standing_in_for(context.session, context.message.sender_id, context.message.at)

    def target(self, context: Context, ticket: Ticket, text: str) -> Target:
        """The member @-mentioned in `text`, among the heads and deputies this group can address,
        and whether the ticket may be handed to them. Found by the member ids the transport
        passed with the message, else by name (`Network.resolve_mention`): a name written with
        no separator or with spaces, a group nickname the member was seen posting under, a
        surname with a title."""
        by_id = self.network.members_with_ids(context.message.mention_ids, context.group)
        if len(by_id) == 1:
            return Target(by_id[0], may_handle=may_handle(self.network, ticket, by_id[0].id))
        spans = mention_spans(text)
        if not spans:
            return Target(None, problem=texts.MENTION_NEEDED.format(
                example=texts.EXAMPLES[context.command.keyword]))
        mention = self.mentioned(context, spans[0])
        if not mention.members:
            return Target(None, problem=texts.UNKNOWN_MEMBER.format(name=mention.written))
        if len(mention.members) > 1:
            return Target(None, problem=texts.AMBIGUOUS_MEMBER.format(
                count=len(mention.members), name=mention.written))
        member = mention.members[0]
        return Target(member, may_handle=may_handle(self.network, ticket, member.id))

    def mentioned(self, context: Context, written: str) -> Mention:
        """Whom one @-mention names, with the display names members were seen posting under."""
        folded = fold_name(written)
        parts = {folded[start:end] for start in range(len(folded))
                 for end in range(start + 2, len(folded) + 1)}
        seen: dict[str, list[str]] = {}
        if parts:
            for name, member_id in context.session.execute(
                    select(_NAMES.c.folded, _NAMES.c.member_id)
                    .where(_NAMES.c.folded.in_(sorted(parts)))):
                seen.setdefault(name, []).append(member_id)
        return self.network.resolve_mention(written, context.group, seen)

    def over_request_limit(self, context: Context) -> list[Reply] | None:
        """None while the sender may open another ticket (fewer than `policy.request_limit.
        requests` of theirs in the `within` before this message); past it the message is kept
        as skipped, and the first one skipped in the window gets the one polite notice."""
        limit = self.config.policy.request_limit
        message = context.message
        since = message.at - limit.within
        recent = context.session.execute(
            select(func.count()).select_from(_TICKETS)
            .where(_TICKETS.c.reporter_id == message.sender_id,
                   _TICKETS.c.created_at > since)).scalar_one()
        if recent < limit.requests:
            return None
        told = context.session.execute(
            select(_INBOUND.c.id).where(_INBOUND.c.sender_id == message.sender_id,
                                        _INBOUND.c.sent_at > since,
                                        _INBOUND.c.skipped == Skipped.REQUEST_LIMIT.value,
                                        _INBOUND.c.message_id != message.id).limit(1)).first()
        self._skip(context.session, message, Skipped.REQUEST_LIMIT)
        if told is not None:
            return []
        return [Reply(texts.TOO_MANY_REQUESTS.format(
            window=format_chinese_duration(limit.within), limit=limit.requests),
            mentions=(message.sender_id,))]

    def subtree_scope(self, context: Context) -> Scope | None:
        """For 待办 / 统计: what the sender heads (also as a stand-in); None for residents. In a
        group the sender heads, that group's subtree; in the group of a micro-grid where they
        head buildings or units (楼栋长、单元长), those places' tickets; elsewhere, everything."""
        network = self.network
        heads = [context.message.sender_id, *self.standing_in_for(context)]
        led = list(dict.fromkeys(node for head in heads for node in network.nodes_led_by(head)))
        places = list(dict.fromkeys(led for head in heads for led in network.places_led_by(head)))
        if not led and not places:
            return None
        if context.group in led:
            led, places = [context.group], []
        elif any(place.grid.id == context.group.id for place in places):
            led, places = [], [place for place in places if place.grid.id == context.group.id]
        names = [*(node.name for node in led), *(f"{place.grid.name}{place.place}" for place in places)]
        return Scope("、".join(names), tuple(node.id for node in led), tuple(places))

    def find_tickets(self, context: Context
                     ) -> tuple[list[tuple[int, Ticket | None]], str, Reply | None]:
        """The tickets a command refers to: its numbers (`接单 #1 #2`), else the `#N` in a quoted
        bot notice, else (for 接单) the one ticket waiting in this group or (for 评价) the one
        ticket the sender has to rate. Returns ((number, ticket or None when there is no such
        ticket) in the order written, the text after the numbers, a refusal for all)."""
        numbers, rest = context.command.ticket_numbers()
        if len(numbers) > MAX_NUMBERS:
            return [], rest, Reply(texts.TOO_MANY_NUMBERS.format(limit=MAX_NUMBERS))
        if not numbers and context.message.quoted:
            quoted = find_ticket_references(context.message.quoted)
            if len(quoted) > 1:
                # `本群有 2 张待接的单（#1、#2）` answered with a bare `接单`: which one?
                listed = "、".join(f"#{n}" for n in quoted[:MAX_NUMBERS]) + (
                    "…" if len(quoted) > MAX_NUMBERS else "")
                return [], rest, Reply(texts.WHICH_ONE.format(
                    count=len(quoted), numbers=listed, keyword=context.command.keyword))
            numbers = quoted
        if not numbers:
            keyword = context.command.keyword
            if keyword == "接单" and not rest:
                ticket, _, refusal = self.single_waiting(context)
                return ([(ticket.id, ticket)] if ticket else []), "", refusal
            if keyword == "评价" and read_rating(rest) is not None:
                ticket, refusal = self.single_to_rate(context)
                return ([(ticket.id, ticket)] if ticket else []), rest, refusal
            example = texts.EXAMPLES[keyword]
            return [], rest, Reply(texts.NUMBER_NEEDED.format(example=example))
        # Locked in number order, so two commands naming the same tickets cannot deadlock. A
        # ticket neither the sender nor this group has anything to do with is answered as one
        # that does not exist: chat tells nobody which numbers are in use elsewhere.
        found = {ticket.id: ticket for ticket in context.session.exec(
            select(Ticket).where(Ticket.id.in_(numbers)).order_by(Ticket.id).with_for_update())
            if self.actor_for(context, ticket).roles}
        return [(number, found.get(number)) for number in numbers], rest, None

    def single_to_rate(self, context: Context) -> tuple[Ticket | None, Reply | None]:
        """The one resolved ticket the sender reported and may rate here; else a hint naming
        theirs (several), or a note that there is none."""
        mine = context.session.exec(
            select(Ticket).where(Ticket.status == Status.RESOLVED,
                                 Ticket.reporter_id == context.message.sender_id)
            .order_by(Ticket.id).limit(11)).all()
        here = [ticket for ticket in mine
                if Role.IN_SCOPE in roles_for(self.network, ticket, context.message.sender_id,
                                              context.group)]
        if len(here) == 1:
            return here[0], None
        if not here:
            return None, Reply(texts.NOTHING_TO_RATE)
        numbers = "、".join(f"#{t.id}" for t in here[:10]) + ("…" if len(here) > 10 else "")
        return None, Reply(texts.SEVERAL_TO_RATE.format(count=len(here), numbers=numbers))

    def single_waiting(self, context: Context) -> tuple[Ticket | None, str, Reply | None]:
        waiting = context.session.exec(
            select(Ticket).where(Ticket.node_id == context.group.id, Ticket.status == Status.OPEN)
            .order_by(Ticket.id).limit(11)
        ).all()
        if len(waiting) == 1:
            return waiting[0], "", None
        if not waiting:
            # `我来接单` just after claiming: tell the head it is theirs already.
            mine = context.session.exec(
                select(Ticket).where(Ticket.node_id == context.group.id,
                                     Ticket.status == Status.CLAIMED,
                                     Ticket.assignee_id == context.message.sender_id)
                .order_by(Ticket.id.desc()).limit(2)).all()
            if len(mine) == 1:
                return None, "", Reply(texts.ALREADY_YOURS.format(number=mine[0].id))
            return None, "", Reply(texts.NOTHING_WAITING)
        numbers = "、".join(f"#{t.id}" for t in waiting[:10]) + ("…" if len(waiting) > 10 else "")
        return None, "", Reply(texts.SEVERAL_WAITING.format(count=len(waiting), numbers=numbers))


# -- the commands: one function each, then the table --------------------------------------------

TicketTransition = Callable[[Dispatcher, Ticket, Actor, str, Context], Outcome]


def on_ticket(transition: TicketTransition) -> Handler:
    """A handler for a command about tickets: find each it names (`接单 #1 #2`), work out the
    actor's roles, apply the transition and record it; each ticket gets its own answer."""

    def handler(dispatcher: Dispatcher, context: Context) -> list[Reply]:
        found, rest, refusal = dispatcher.find_tickets(context)
        if refusal is not None:
            return [refusal]
        replies: list[Reply] = []
        for number, ticket in found:
            if ticket is None:
                replies.append(Reply(texts.TICKET_NOT_FOUND.format(number=number)))
                continue
            actor = dispatcher.actor_for(context, ticket)
            outcome = transition(dispatcher, ticket, actor, rest, context)
            previous = ticket.assignee_id
            dispatcher.apply(context, ticket, actor, outcome)
            replies.extend(dispatcher.notices(context, ticket, outcome, previous))
        return replies

    return handler


def rate_unquoted(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """A bare rating (`满意`, `非常满意，谢谢`) neither quoting a notice nor naming a number: 评价 of
    the one ticket the sender has waiting for a rating; a hint when they have several; silence
    when they have none (it was talk)."""
    ticket, refusal = dispatcher.single_to_rate(context)
    if ticket is None:
        return [] if refusal is None or refusal.text == texts.NOTHING_TO_RATE else [refusal]
    actor = dispatcher.actor_for(context, ticket)
    outcome = lifecycle.rate(ticket, actor, context.command.rest, context.message.at)
    previous = ticket.assignee_id
    dispatcher.apply(context, ticket, actor, outcome)
    return dispatcher.notices(context, ticket, outcome, previous)


def place_order(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """下单: where a request becomes a ticket, numbered and routed to its micro-grid."""
    description = context.command.rest
    if not description:
        return [Reply(texts.PLACE_ORDER_USAGE)]
    if is_placeholder_only(description):  # `下单 [图片]`: nothing said in words
        return [Reply(texts.DESCRIBE_IN_WORDS)]
    message = context.message
    if (limited := dispatcher.over_request_limit(context)) is not None:
        return limited
    parsed = analyse(description, dispatcher.lexicon)
    node = route(dispatcher.network, context.group, parsed.building, parsed.unit)
    if (joined := join_repeat(dispatcher, context, description, parsed, node)) is not None:
        return joined
    created = lifecycle.EventRecord("created", None, Status.OPEN)
    urgent = bool(parsed.urgent)
    clock = clock_after(created.kind, None, created.to_status, EscalationClock(None, None),
                        dispatcher.config.policy.timers_for(parsed.category, urgent), message.at)
    row = {
        "source_message_id": message.id, "group_room": message.room, "node_id": node.id,
        "reporter_id": message.sender_id, "reporter_name": message.sender_name,
        "text": description, "category": parsed.category, "urgent": urgent,
        "building": parsed.building, "unit": parsed.unit, "floor": parsed.floor,
        "room": parsed.room, "status": Status.OPEN, "escalation_level": 0,
        "created_at": message.at, "clock_started_at": clock.started_at,
        "escalation_due_at": clock.due_at, "deadline_at": clock.deadline_at,
    }
    # Written at once: the number people see is the row's id, and a later message of the same
    # batch may already refer to it.
    number = context.session.execute(insert(_TICKETS).returning(_TICKETS.c.id), row).scalar_one()
    record_events(context.session, number, Actor(message.sender_id, message.sender_name),
                  (created,), message.at, message.id)
    network = dispatcher.network
    helpers = co_handlers(network, node, parsed.category, urgent)
    place = network.place_head(node.id, parsed.building, parsed.unit)
    called = responsible_members(network, node, parsed.category, urgent, parsed.building, parsed.unit)
    return list(lifecycle.new_ticket_notice(
        number, row, [m.id for m in called], node, [m.name for m in helpers],
        (place.title, place.head.name) if place and place.head.id != node.head.id else None))


def heads_of(dispatcher: Dispatcher, ticket: Ticket) -> list[str]:
    """Who must claim the ticket where it stands now: that node's head, the head of its building
    or unit (楼栋长、单元长) while it stands at its own grid, and the co-handlers (协办) of the
    ticket's own node."""
    network = dispatcher.network
    home = network.node(ticket.node_id)
    here = current_node(network, ticket)
    place = network.place_head(home.id, ticket.building, ticket.unit) if here.id == home.id else None
    return [here.head.id, *((place.head.id,) if place else ()),
            *(m.id for m in co_handlers(network, home, ticket.category, ticket.urgent))]


def claim(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.claim(ticket, actor, context.message.at)


def resolve(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.resolve(ticket, actor, rest, context.message.at,
                             verifiers_of(dispatcher.config, dispatcher.network, ticket, actor.id))


def verifiers_of(config: GridConfig, network: Network, ticket: Ticket,
                 resolver_id: str) -> lifecycle.Verifiers | None:
    """Who checks this ticket's resolution (policy.verification), the resolver left out; a head
    who resolved it alone at their node is checked from above. None: no 核查 for this ticket."""
    node = network.get(ticket.node_id)
    if node is None:
        return None
    rule = config.policy.verification_for(ticket.category, node.level)
    if rule is None:
        return None
    if rule.by == "head" and role_ids(node) - {resolver_id}:
        return lifecycle.Verifiers("head", node, tuple(sorted(role_ids(node) - {resolver_id})))
    above = network.parent(node.id) or node
    return lifecycle.Verifiers("above", above, tuple(sorted(role_ids(above) - {resolver_id})))


def verify(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    resolver = context.session.exec(
        select(TicketEvent.actor_id).where(TicketEvent.ticket_id == ticket.id,
                                           TicketEvent.kind == "resolved")
        .order_by(TicketEvent.id.desc()).limit(1)).first()
    expected = verifiers_of(dispatcher.config, dispatcher.network, ticket, resolver or "")
    return lifecycle.verify(ticket, actor, rest, expected.by if expected else "head", resolver,
                            context.message.at)


def rate(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.rate(ticket, actor, rest, context.message.at)


def query(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    events = context.session.exec(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).all()
    network = dispatcher.network
    helpers = co_handlers(network, network.node(ticket.node_id), ticket.category, ticket.urgent)
    return lifecycle.summary(ticket, events, actor, dispatcher.zone,
                             action=texts.ACTIONS[context.command.keyword],
                             co_handler_names=[m.name for m in helpers],
                             follower_names=follower_names(context.session, ticket),
                             households=households(context.session, ticket),
                             attachments=attachment_line(
                                 [(row.kind, row.size) for row in
                                  attachments.attachments_of(context.session, ticket.id)]))


def add_detail(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    # `补充 #3` carrying a photo and no words (a bridge may send both at once): the photo is it.
    carried = counted(media.kind for media in context.message.media)
    return lifecycle.add_detail(ticket, actor, rest or carried, heads_of(dispatcher, ticket))


def cancel(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.cancel(ticket, actor, context.message.at)


def note_progress(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.note_progress(ticket, actor, rest)


def give_back(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.give_back(ticket, actor, rest, heads_of(dispatcher, ticket))


def transfer(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.transfer(ticket, actor, dispatcher.target(context, ticket, rest))


def dispatch_to(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.dispatch(ticket, actor, dispatcher.target(context, ticket, rest),
                              context.message.at)


def blow_whistle(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    # `吹哨 #12 @城管`: sideways, to a department (街乡吹哨、部门报到), not up.
    if rest.startswith(("@", "＠")) and dispatcher.config.department_named(rest.split()[0]):
        return departments.call(dispatcher, ticket, actor, rest, context)
    network = dispatcher.network
    return lifecycle.blow_whistle(ticket, actor, rest, current_node(network, ticket),
                                  next_node(network, ticket))


def supervise(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.supervise(ticket, actor, rest, heads_of(dispatcher, ticket))


def recategorize(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.recategorize(ticket, actor, read_category(rest), rest)


def mark_urgent(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.change_urgency(ticket, actor, True)


def mark_normal(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str, context: Context) -> Outcome:
    return lifecycle.change_urgency(ticket, actor, False)


def extensions_of(session: Session, ticket: Ticket) -> lifecycle.Extensions:
    """The ticket's extensions so far, read from its history (延期)."""
    rows = session.exec(select(TicketEvent.kind, TicketEvent.note).where(
        TicketEvent.ticket_id == ticket.id,
        TicketEvent.kind.in_(("extension_asked", "extension_granted", "extension_refused")))
        .order_by(TicketEvent.id)).all()
    granted = sum(kind == "extension_granted" for kind, _ in rows)
    if not rows or rows[-1][0] != "extension_asked":
        return lifecycle.Extensions(granted)
    written, _, reason = (rows[-1][1] or "").partition("：")
    amount, _ = read_amount(written)
    return lifecycle.Extensions(granted, (amount, reason) if amount is not None else None)


def ask_extension(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str,
                  context: Context) -> Outcome:
    amount, reason = read_amount(rest)
    network = dispatcher.network
    above = network.parent(ticket.node_id) or network.node(ticket.node_id)
    policy = dispatcher.config.policy
    return lifecycle.ask_extension(ticket, actor, amount, reason, context.message.at,
                                   extensions_of(context.session, ticket),
                                   policy.extensions.max_per_ticket, above,
                                   policy.extensions.auto_grant_up_to,
                                   policy.timers_for(ticket.category, ticket.urgent), dispatcher.zone)


def decide_extension(granted: bool) -> TicketTransition:
    def transition(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str,
                   context: Context) -> Outcome:
        return lifecycle.decide_extension(
            ticket, actor, granted, rest, extensions_of(context.session, ticket),
            dispatcher.config.policy.timers_for(ticket.category, ticket.urgent), dispatcher.zone)
    return transition


def take_leave(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """`请假 至12月3日 代理 @周敏`: a head away names who stands in until the end of that day;
    the stand-in is told (bot/stand_ins.py, flows/stand_ins.py)."""
    message, network = context.message, dispatcher.network
    if not network.leads_anything(message.sender_id):
        return [Reply(texts.LEAVE_NOT_A_HEAD)]
    rest = context.command.rest
    until = read_leave_until(rest, message.at.astimezone(dispatcher.zone))
    named = network.members_with_ids(message.mention_ids, context.group)
    if len(named) != 1 and (spans := mention_spans(rest)):
        named = list(dispatcher.mentioned(context, spans[0]).members)
    if until is None or len(named) != 1:
        return [Reply(texts.LEAVE_USAGE)]
    stand_in = named[0]
    if stand_in.id == message.sender_id:
        return [Reply(texts.LEAVE_SELF)]
    start_leave(context.session, message.sender_id, stand_in.id, stand_in.name, until, message.at)
    head = network.member_name(message.sender_id) or message.sender_name
    last = (until - timedelta(days=1)).astimezone(dispatcher.zone)
    return [Reply(texts.LEAVE_SET.format(head=head, stand_in=stand_in.name,
                                         last=f"{last.month}月{last.day}日"),
                  mentions=(stand_in.id,))]


def come_back(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """`销假`: the head is back before their leave's end; the stand-in stops."""
    message = context.message
    if not end_leave(context.session, message.sender_id, message.at):
        return [Reply(texts.NO_LEAVE)]
    head = dispatcher.network.member_name(message.sender_id) or message.sender_name
    return [Reply(texts.LEAVE_ENDED.format(head=head))]


def announce(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """`公告 3栋 停水 至18:00 自来水公司抢修中`: a head of the group's node or above posts an
    area-wide notice. It is a ticket of its own (claimed by the head, no timer) that runs until
    its `至` time (else `policy.repeats.window`); meanwhile reports of its problem in its area
    (the group's subtree, its building when it names one) join it instead of opening tickets."""
    message, network = context.message, dispatcher.network
    chain = [context.group, *network.ancestors(context.group.id)]
    if not any(message.sender_id in role_ids(node) for node in chain):
        return [Reply(texts.NOT_A_NOTICE_HEAD)]
    if not context.command.rest:
        return [Reply(texts.NOTICE_USAGE)]
    text, until = read_notice(context.command.rest, message.at.astimezone(dispatcher.zone))
    until = until or message.at + dispatcher.config.policy.repeats.window
    parsed = analyse(text, dispatcher.lexicon)
    if not report_of(text, parsed, dispatcher.lexicon).things:
        return [Reply(texts.NOTICE_WHAT)]
    name = network.member_name(message.sender_id) or message.sender_name
    number = context.session.execute(insert(_TICKETS).returning(_TICKETS.c.id), {
        "source_message_id": message.id, "group_room": message.room, "node_id": context.group.id,
        "reporter_id": message.sender_id, "reporter_name": name, "text": text,
        "category": parsed.category, "urgent": False, "building": parsed.building,
        "unit": parsed.unit, "floor": parsed.floor, "room": parsed.room,
        "status": Status.CLAIMED, "assignee_id": message.sender_id, "assignee_name": name,
        "escalation_level": 0, "created_at": message.at, "claimed_at": message.at,
        "notice_until": until,
    }).scalar_one()
    record_events(context.session, number, Actor(message.sender_id, name),
                  (lifecycle.EventRecord("created", None, Status.CLAIMED, texts.ACTIONS["公告"]),),
                  message.at, message.id)
    shown = until.astimezone(dispatcher.zone)
    same_day = shown.date() == message.at.astimezone(dispatcher.zone).date()
    return [Reply(texts.NOTICE_POSTED.format(
        number=number, text=text, until=shown.strftime("%H:%M" if same_day else "%m-%d %H:%M")))]


def merge_tickets(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """`合并 #13 #12`: a head joins a report (13) to the ticket of the same problem (12); the
    households that had joined 13 join 12 with it (一事多报)."""
    found, _, refusal = dispatcher.find_tickets(context)
    if refusal is not None:
        return [refusal]
    if len(found) != 2:
        return [Reply(texts.MERGE_USAGE)]
    for number, ticket in found:
        if ticket is None:
            return [Reply(texts.TICKET_NOT_FOUND.format(number=number))]
    (_, ticket), (_, into) = found
    session = context.session
    reporters = {into.reporter_id, ticket.reporter_id,
                 *(member for _, member in followers(session, into)),
                 *(member for _, member in followers(session, ticket))}
    actor, into_actor = dispatcher.actor_for(context, ticket), dispatcher.actor_for(context, into)
    merged, joined = lifecycle.merge(ticket, into, actor, into_actor, len(reporters))
    if not merged.accepted:
        return list(merged.replies)
    previous = ticket.assignee_id
    dispatcher.apply(context, ticket, actor, merged)
    session.execute(update(_TICKETS).where(_TICKETS.c.parent_id == ticket.id,
                                           _TICKETS.c.status == Status.MERGED)
                    .values(parent_id=into.id))
    dispatcher.apply(context, into, into_actor, joined)
    return dispatcher.notices(context, ticket, merged, previous)


def split_ticket(dispatcher: Dispatcher, ticket: Ticket, actor: Actor, rest: str,
                 context: Context) -> Outcome:
    """`拆分 #13`: a report joined by mistake waits for its own claim again."""
    parent = context.session.get(Ticket, ticket.parent_id) if ticket.parent_id else None
    parent_actor = dispatcher.actor_for(context, parent) if parent is not None else None
    own, undone = lifecycle.split(ticket, parent, actor, parent_actor, heads_of(dispatcher, ticket))
    if own.accepted and parent is not None and parent_actor is not None:
        dispatcher.apply(context, parent, parent_actor, undone)
    return own


@dataclass(frozen=True)
class Scope:
    """What a head's 待办 and 统计 cover: the subtrees of `node_ids` and the buildings or units of
    `places` (楼栋长、单元长), under `name`."""

    name: str
    node_ids: tuple[str, ...]
    places: tuple[PlaceHeadOf, ...] = ()

    def condition(self, network: Network, *, per_row: bool = False):
        """SQL condition on a ticket's home node and place (`models.subtrees.in_subtrees`,
        `flows.open_tickets.in_places`); `per_row` as for `in_subtree`."""
        parts = [*([in_subtrees(network, self.node_ids, per_row=per_row)] if self.node_ids else []),
                 *([in_places(self.places)] if self.places else [])]
        return parts[0] if len(parts) == 1 else or_(*parts)


def on_subtree(report: Callable[[Session, Network, Scope], Reply]) -> Handler:
    """A handler for a head's view of what they lead (待办, 统计); residents are told it is for
    heads."""

    def handler(dispatcher: Dispatcher, context: Context) -> list[Reply]:
        scope = dispatcher.subtree_scope(context)
        if scope is None:
            return [Reply(texts.NOT_A_HEAD.format(action=texts.ACTIONS[context.command.keyword]))]
        return [report(context.session, dispatcher.network, scope)]

    return handler


def todo(session: Session, network: Network, scope: Scope) -> Reply:
    """`待办`: the tickets open in the subtree, or in a building head's building
    (flows/open_tickets.py: escalated ones too), the oldest first, and how many there are (the
    dashboard's headline for the same node)."""
    total = session.exec(select(func.count()).select_from(Ticket)
                         .where(open_in(scope.condition(network)))).one()
    # The oldest first: walk the open tickets by age, testing the scope on each.
    first = session.exec(select(Ticket).where(open_in(scope.condition(network, per_row=True)))
                         .order_by(Ticket.created_at, Ticket.id).limit(overview.TODO_LINES)).all()
    return overview.todo_list(scope.name, first, total)


def statistics(session: Session, network: Network, scope: Scope) -> Reply:
    """`统计`: every ticket routed into the subtree (or a building head's building) by status;
    待接单 + 处理中 is the open count of flows/open_tickets.py (same home-node rule, escalated
    ones included)."""
    by_status: Counter = Counter()
    ratings: Counter = Counter()
    for status, rating, count in session.exec(select(Ticket.status, Ticket.rating, func.count())
                                              .where(scope.condition(network))
                                              .group_by(Ticket.status, Ticket.rating)):
        by_status[status] += count
        if rating is not None:
            ratings[rating] += count
    return overview.statistics(scope.name, by_status, ratings)


def ranking(dispatcher: Dispatcher, context: Context) -> list[Reply]:
    """`排名` / `排名 本月` / `排名 上月`: a head above the micro-grid sees the units one level below
    the node they head ranked by their score this month (so far) or last month (flows/figures.py,
    policy.ranking.weights), each unit's three rates beside it."""
    scope = dispatcher.subtree_scope(context)
    if scope is None:
        return [Reply(texts.NOT_A_HEAD.format(action=texts.ACTIONS["排名"]))]
    network = dispatcher.network
    nodes = [network.node(node_id) for node_id in scope.node_ids
             if not network.is_microgrid(node_id)]
    if not nodes:
        return [Reply(texts.RANKING_MICROGRID)]
    which = texts.RANKING_PERIODS.get(context.command.rest.strip())
    if which is None:
        return [Reply(texts.RANKING_USAGE)]
    zone = ZoneInfo(dispatcher.config.policy.timezone)
    at = context.message.at
    period = month_period(at.astimezone(zone).date(), zone)
    if which == "last":
        period = period.previous()
    weights = weights_of(dispatcher.config)
    return [Reply("\n\n".join(
        ranking_text(node.name, period.name,
                     gather_ranking(context.session, dispatcher.config, network, node.id,
                                    period, at), weights)
        for node in nodes))]


COMMAND_TABLE: dict[str, CommandRow] = {row.keyword: row for row in (
    CommandRow("下单", "anyone", place_order),
    CommandRow("查询", "anyone in the ticket's groups", on_ticket(query)),
    CommandRow("进度", "anyone in the ticket's groups", on_ticket(query)),
    CommandRow("评价", "reporter", on_ticket(rate)),
    CommandRow("接单", "head or deputy, or a head above", on_ticket(claim)),
    CommandRow("办结", "handler", on_ticket(resolve)),
    CommandRow("补充", "reporter", on_ticket(add_detail)),
    CommandRow("撤单", "reporter", on_ticket(cancel)),
    CommandRow("进展", "handler", on_ticket(note_progress)),
    CommandRow("退单", "handler", on_ticket(give_back)),
    CommandRow("转派", "handler", on_ticket(transfer)),
    CommandRow("吹哨", "any head of the ticket's grid or above", on_ticket(blow_whistle)),
    CommandRow("派单", "a head above the ticket's grid", on_ticket(dispatch_to)),
    CommandRow("督办", "a head above the ticket's grid", on_ticket(supervise)),
    CommandRow("待办", "any head, for their subtree", on_subtree(todo)),
    CommandRow("统计", "any head, for their subtree", on_subtree(statistics)),
    CommandRow("排名", "a head above the micro-grid, for the units below", ranking),
    CommandRow("改类", "handler or a head of the ticket's grid or above", on_ticket(recategorize)),
    CommandRow("改紧急", "handler or a head of the ticket's grid or above", on_ticket(mark_urgent)),
    CommandRow("改一般", "handler or a head of the ticket's grid or above", on_ticket(mark_normal)),
    CommandRow("合并", "handler or a head of both tickets' grids or above", merge_tickets),
    CommandRow("拆分", "handler or a head of the ticket's grid or above", on_ticket(split_ticket)),
    CommandRow("公告", "a head of the group's grid or above", announce),
    CommandRow("核查", "a head of the ticket's grid or above, not who resolved it", on_ticket(verify)),
    CommandRow("呼叫", "handler or a head of the ticket's grid or above", on_ticket(departments.call)),
    CommandRow("报到", "a member of a department called on the ticket", on_ticket(departments.report)),
    CommandRow("请假", "any head or deputy", take_leave),
    CommandRow("销假", "any head or deputy on leave", come_back),
    CommandRow("延期", "handler", on_ticket(ask_extension)),
    CommandRow("同意延期", "a head above the ticket's grid", on_ticket(decide_extension(True))),
    CommandRow("不同意延期", "a head above the ticket's grid", on_ticket(decide_extension(False))),
    CommandRow("通知", "a head of the group's grid or above", circulars.send(urgent=False)),
    CommandRow("紧急通知", "a head of the group's grid or above", circulars.send(urgent=True)),
    CommandRow("通知情况", "the circular's sender, or a head of its grid or above",
               circulars.show_status),
)}

# What a department's group may say: the commands of a department called in.
DEPARTMENT_COMMANDS = frozenset({"报到", "进展", "办结"})

# A bare rating is a short reply (`满意`, `非常满意，谢谢网格长`); a longer message is talk.
_BARE_RATING_MAX = 40


