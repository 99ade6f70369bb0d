"""The outbox: every post the bot makes, written with the change that caused them, sent afterwards.

Every post passes one path (design §7 "Every post the bot makes"), whoever makes it (the
dispatcher, the escalation scan, digests, the API):

0. **stand-ins** (`bot.stand_ins`): a head away (请假) has their stand-in @-mentioned beside them
   and sent a copy of what goes to them alone;
1. **mask** (`flows.masking`): a post into a group above the micro-grid, or privately to a head
   above it, has phone numbers, room numbers and reporters' full names masked; there it @-mentions
   officials only;
2. **split** (`flows.splitting`): a post longer than the transport takes (`transport.max_post_chars`
   characters, `transport.max_post_bytes` bytes) becomes several, marked (续 n/m);
3. **write** in the transaction of the change (`write_posts`);
4. **pace and deliver** (`deliver_pending`, `bot.pacing`): each room (or each sender, for a
   transport limited per sender: a WeCom group robot) gets at most
   `transport.posts_per_room_per_minute` posts a minute, in the order they were written; a room
   at its limit, or whose post failed, never holds back another room.

(The escalation scan groups its notices into one post per room before step 1:
`flows.grouping`.) A post is marked delivered only after the transport accepted it. Before
sending, a sender takes the post with a short lease (`SEND_LEASE`), renewed while it sends, so
several bots sharing a database never send one post twice. A post taken by a sender that died goes
out again: at once when that sender's process is restarted (`take_back_dead_leases` at start), or
through any live instance once the lease lapses (delivery is at least once only across such a
crash). Each room keeps its order: a post another sender holds stops its room for the run.

A post the chat service refuses for good (the transport's error says `refused_for_good`, e.g. a
callback answering 413), or that failed `MAX_POST_FAILURES` times over more than
`transport.dead_letter_after` since it was written (a callback or gateway down for an hour
loses nothing), is set aside as a dead letter
(`dead_at`, `dead_reason`): its room goes on with the next post. `dead_letters` lists them and
`retry_dead` puts one back in line (`gridbot outbox dead`, `gridbot outbox retry ID`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.pacing import DEFAULT_PER_MINUTE, RoomPacer, destination_column, same_destination
from bot.stand_ins import stand_ins_for
from bot.transport import OutgoingPost, Transport
from flows.config import GridConfig
from flows.credentials import mask_credentials
from flows.lifecycle import Reply
from flows.masking import Personal, mask_text, masked_for_post
from flows.network import Network
from flows.splitting import PostLimits, split_post
from models.db import Database
from models.tables import OutboundPost, Ticket

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(seconds=30)  # how long a sender's hold on a post lasts unless renewed
RENEW_EVERY = timedelta(seconds=10)  # a sender renews the lease of what it holds this often
MAX_POST_FAILURES = 10  # failed tries after which a post may be set aside as a dead letter…
DEAD_LETTER_AFTER = timedelta(hours=1)  # … once it was written this long ago
# This process as a sender: host, process id, and a token of this start (a restarted process in a
# container often gets the same process id).
SENDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
_table = OutboundPost.__table__  # Core statements: delivery runs once per message


PAGE = 500  # posts read per query
MAX_FAILURES = 3  # rooms whose post failed before a delivery run gives up (the service is down)
_TICKET_NUMBER = re.compile(r"[#＃](\d{1,9})")

# How a delivery runs its blocking database calls: `asyncio.to_thread`'s shape, (function, *args,
# **kwargs) -> awaitable of the result. `gridbot run` passes `asyncio.to_thread` so that a
# commit waiting on SQLite's write lock never holds up the event loop (the API, the transport).
Offload = Callable[..., Awaitable[Any]]


async def inline(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """The `Offload` that runs the call at once in the caller's thread."""
    return function(*args, **kwargs)


def pending_posts(db: Database, after_id: int = 0, limit: int = PAGE,
                  per_room: int | None = None) -> list[OutgoingPost]:
    """Undelivered posts after `after_id`, in the order written; with `per_room`, only the first
    that many of each room (a long backlog in one room is not read in full each time)."""
    waiting = select(_table).where(_table.c.delivered_at.is_(None), _table.c.dead_at.is_(None),
                                   _table.c.id > after_id)
    if per_room is not None:
        ranked = waiting.add_columns(func.row_number().over(
            partition_by=destination_column(), order_by=_table.c.id).label("turn")).subquery()
        waiting = select(*(ranked.c[column.name] for column in _table.c)).where(
            ranked.c.turn <= per_room)
        order = ranked.c.id
    else:
        order = _table.c.id
    with db.engine.connect() as connection:
        rows = connection.execute(waiting.order_by(order).limit(limit)).all()
    return [outgoing(row._mapping, row.id) for row in rows]


@dataclass(frozen=True)
class PostPipeline:
    """The stages a post passes before it is written (see the module's docstring): masked for
    the level of the group it goes to, then split to the transport's limits."""

    network: Network
    limits: PostLimits

    @classmethod
    def of(cls, config: GridConfig, network: Network) -> PostPipeline:
        transport = config.transport
        return cls(network, PostLimits(transport.max_post_chars, transport.post_bytes()))

    def prepare(self, session: Session, rows: list[dict[str, Any]], *,
                official: bool = False) -> list[dict[str, Any]]:
        """The outbox rows (`post_values`) as they are written: each masked where it goes,
        then split into as many rows as it needs, in order."""
        return self.prepare_each(session, [rows], official=official)[0]

    def prepare_each(self, session: Session, batches: list[list[dict[str, Any]]], *,
                     official: bool = False) -> list[list[dict[str, Any]]]:
        """`prepare` for several sources' rows, the tickets they name read once. A head away
        (请假) has their stand-in @-mentioned beside them, and sent a copy of what is sent to
        them alone (a digest to the head). `official` rows (a circular, bot/circulars.py: an
        official's own words, no resident's data) are not masked."""
        batches = with_stand_ins(session, batches)
        masked = [[not official and masked_for_post(self.network, row["room"], row["recipient_id"])
                   for row in rows] for rows in batches]
        people = self._personal(session, [row["text"] for rows, marks in zip(batches, masked)
                                          for row, mask in zip(rows, marks) if mask])
        prepared = []
        for rows, marks in zip(batches, masked):
            out: list[dict[str, Any]] = []
            for row, mask in zip(rows, marks):
                out += self.split(self.mask(row, people) if mask else row)
            prepared.append(out)
        return prepared

    def mask(self, row: dict[str, Any], people: Mapping[int, Reporter]) -> dict[str, Any]:
        """A row going above the micro-grid: its text masked with the personal data of every
        ticket it names (`#N`); its mentions only officials of the network (a resident's @
        would show their name), and the reporter of a named ticket in the group where they
        asked (they showed their name there themselves; design §7: the reporter is told where
        they asked)."""
        personal = Personal()
        asked_here = set()
        for number in dict.fromkeys(_TICKET_NUMBER.findall(row["text"])):
            reporter = people.get(int(number))
            if reporter is not None:
                personal = personal + reporter.personal
                if reporter.group_room == row["room"]:
                    asked_here.add(reporter.id)
        # The members of a department called in (config `departments`) are officials too.
        officials = {m.id for d in self.network.config.departments for m in d.members}
        return {**row, "text": mask_text(row["text"], personal),
                "mentions": [m for m in row["mentions"]
                             if self.network.member(m) is not None or m in asked_here
                             or m in officials]}

    def split(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """A row as rows that each fit the transport; the mentions go with the first, and room
        is kept in it for the `@name ` the transport writes in front."""
        reserve = sum(len(self.network.member_name(m) or m) + 2 for m in row["mentions"])
        parts = split_post(row["text"], self.limits, reserve)
        return [{**row, "text": part, "mentions": row["mentions"] if n == 0 else []}
                for n, part in enumerate(parts)]

    @staticmethod
    def _personal(session: Session, texts_: list[str]) -> dict[int, Personal]:
        """The reporter's name and room of each ticket the texts name, by number."""
        numbers = {int(n) for text in texts_ for n in _TICKET_NUMBER.findall(text)}
        if not numbers:
            return {}
        table = Ticket.__table__
        rows = session.execute(select(table.c.id, table.c.reporter_name, table.c.room,
                                      table.c.reporter_id, table.c.group_room)
                               .where(table.c.id.in_(sorted(numbers)))).all()
        return {row.id: Reporter(Personal((row.reporter_name,) if row.reporter_name else (),
                                          (row.room,) if row.room else ()),
                                 row.reporter_id, row.group_room) for row in rows}


def with_stand_ins(session: Session, batches: list[list[dict[str, Any]]]
                   ) -> list[list[dict[str, Any]]]:
    """The rows with each away head's stand-in (bot/stand_ins.py) added to the mentions, and a
    copy of each private row for the stand-in. One query for all the rows."""
    people = {m for rows in batches for row in rows for m in row["mentions"]} | \
        {row["recipient_id"] for rows in batches for row in rows if row["recipient_id"]}
    if not people:
        return batches
    now = next(row["created_at"] for rows in batches for row in rows)
    away = stand_ins_for(session, people, now)
    if not away:
        return batches
    out = []
    for rows in batches:
        changed: list[dict[str, Any]] = []
        for row in rows:
            mentions = list(dict.fromkeys(
                [*row["mentions"], *(away[m] for m in row["mentions"] if m in away)]))
            changed.append({**row, "mentions": mentions})
            if row["recipient_id"] in away:
                changed.append({**row, "recipient_id": away[row["recipient_id"]]})
        out.append(changed)
    return out


class Reporter(NamedTuple):
    """Of a ticket a post names: what may not show above the micro-grid, who reported it, and
    the room they asked in."""

    personal: Personal
    id: str
    group_room: str


def post_values(reply: Reply, default_room: str, reply_to: str | None,
                now: datetime) -> dict[str, Any]:
    """The outbox row of a reply, column by column."""
    # API users (ids `api:…`) act on tickets but are no chat members: nobody to @ in a group.
    mentions = [member for member in reply.mentions if not member.startswith("api:")]
    return {"room": None if reply.recipient else reply.room or default_room,
            "recipient_id": reply.recipient, "text": reply.text, "mentions": mentions,
            "reply_to": reply_to, "created_at": now}


def write_posts(session: Session, rows: list[dict[str, Any]],
                pipeline: PostPipeline) -> list[OutgoingPost]:
    """Put posts (`post_values` rows) in the outbox, in the transaction of the change that
    caused them, with one statement, after `pipeline` masked and split them; returns them
    numbered, in the order given (a split post as its parts)."""
    return [post for posts in write_posts_each(session, [rows], pipeline) for post in posts]


def write_posts_each(session: Session, batches: list[list[dict[str, Any]]],
                     pipeline: PostPipeline) -> list[list[OutgoingPost]]:
    """`write_posts` for several sources at once (the messages of a batch), with one statement;
    returns each source's posts, numbered, as its rows became after the pipeline."""
    prepared = pipeline.prepare_each(session, batches)
    flat = [row for rows in prepared for row in rows]
    if not flat:
        return [[] for _ in batches]
    numbers = iter(session.execute(
        insert(_table).returning(_table.c.id, sort_by_parameter_order=True), flat).scalars().all())
    return [[outgoing(values, next(numbers)) for values in rows] for rows in prepared]


def write_many(session: Session, rows: list[dict[str, Any]], pipeline: PostPipeline, *,
               official: bool = False) -> dict[str | None, int]:
    """`write_posts` for many posts whose numbers are not wanted one by one (a circular into
    33,000 groups): the same pipeline, then one executemany without RETURNING (which SQLite
    runs row by row); returns the number of the first post written into each room, read back
    in the same transaction by room and text. `official` as for `PostPipeline.prepare_each`."""
    prepared = pipeline.prepare(session, rows, official=official)
    if not prepared:
        return {}
    before = session.execute(select(func.max(_table.c.id))).scalar() or 0
    session.execute(insert(_table), prepared)
    first_text: dict[str | None, str] = {}
    for row in prepared:
        first_text.setdefault(row["room"], row["text"])
    rooms = [room for room in first_text if room is not None]
    firsts: dict[str | None, int] = {}
    for post_id, room, text in session.execute(
            select(_table.c.id, _table.c.room, _table.c.text)
            .where(_table.c.id > before, _table.c.room.in_(rooms)).order_by(_table.c.id)):
        if room not in firsts and first_text.get(room) == text:
            firsts[room] = post_id
    return firsts


def outgoing(values: Mapping[str, Any], post_id: int) -> OutgoingPost:
    """An outbox row (its columns), written with `post_id`, as the transport sends it."""
    return OutgoingPost(room=values["room"], text=values["text"],
                        mentions=tuple(values["mentions"]), reply_to=values["reply_to"],
                        recipient=values["recipient_id"], id=post_id)


def pending_count(db: Database) -> int:
    """Posts waiting to be sent (dead letters not counted: they wait for an operator)."""
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(_table)
                                  .where(_table.c.delivered_at.is_(None),
                                         _table.c.dead_at.is_(None))).scalar_one()


def take_for_sending(db: Database, post_ids: list[int], now: datetime,
                     sender: str = SENDER) -> set[int]:
    """Take the posts for this sender; returns those it got (not held by another sender, not
    sent already, not set aside)."""
    if not post_ids:
        return set()
    with db.engine.begin() as connection:
        taken = connection.execute(
            update(_table)
            .where(_table.c.id.in_(post_ids), _table.c.delivered_at.is_(None),
                   _table.c.dead_at.is_(None),
                   or_(_table.c.sending_since.is_(None), _table.c.sending_since < now - SEND_LEASE))
            .values(sending_since=now, sending_by=sender).returning(_table.c.id))
        return {row.id for row in taken}


def renew(db: Database, post_ids: list[int], now: datetime, sender: str = SENDER) -> None:
    """Extend this sender's lease of the posts it still holds."""
    if post_ids:
        with db.engine.begin() as connection:
            connection.execute(update(_table).where(_table.c.id.in_(post_ids),
                                                    _table.c.sending_by == sender,
                                                    _table.c.delivered_at.is_(None))
                               .values(sending_since=now))


def release(db: Database, post_ids: list[int], sender: str = SENDER) -> None:
    """Give back this sender's hold on the posts (one another sender took over is left alone)."""
    if post_ids:
        with db.engine.begin() as connection:
            connection.execute(update(_table).where(_table.c.id.in_(post_ids),
                                                    _table.c.sending_by == sender)
                               .values(sending_since=None, sending_by=None))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists (another user's), or we cannot tell: its lease lapses instead
    return True


def take_back_dead_leases(db: Database, sender: str = SENDER) -> int:
    """At start: free the posts held by senders of this host that no longer run (this process's
    predecessor, killed mid-send), so their rooms go on at once instead of after the lease.
    Senders of other hosts, or still running, keep theirs until it lapses."""
    host = sender.rsplit(":", 2)[0]
    with db.engine.connect() as connection:
        holders = connection.execute(
            select(_table.c.sending_by).distinct()
            .where(_table.c.sending_by.is_not(None), _table.c.delivered_at.is_(None))
        ).scalars().all()
    dead = []
    for holder in holders:
        parts = holder.rsplit(":", 2)
        if holder == sender or len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or not _process_alive(pid):
            dead.append(holder)
    if not dead:
        return 0
    with db.engine.begin() as connection:
        freed = connection.execute(update(_table).where(_table.c.sending_by.in_(dead),
                                                        _table.c.delivered_at.is_(None))
                                   .values(sending_since=None, sending_by=None)).rowcount
    if freed:
        log.info("took back %d post(s) held by a sender that no longer runs", freed)
    return freed


def set_aside(db: Database, post_id: int, at: datetime, reason: str) -> None:
    """Make the post a dead letter: not sent again unless an operator retries it."""
    with db.engine.begin() as connection:
        connection.execute(update(_table).where(_table.c.id == post_id,
                                                _table.c.delivered_at.is_(None))
                           .values(dead_at=at, dead_reason=reason[:200], sending_since=None,
                                   sending_by=None))
    log.warning("post %s set aside as a dead letter: %s", post_id, reason)


def count_failure(db: Database, post_id: int, at: datetime, reason: str,
                  dead_after: timedelta = DEAD_LETTER_AFTER) -> bool:
    """Count a failed try of the post; True when that made it a dead letter: `MAX_POST_FAILURES`
    tries or more, the post written `dead_after` or longer before `at` (a chat service down for
    a while fails every post many times: they wait for it, nothing is lost)."""
    with db.engine.begin() as connection:
        failures, created_at = connection.execute(
            update(_table).where(_table.c.id == post_id)
            .values(failures=_table.c.failures + 1)
            .returning(_table.c.failures, _table.c.created_at)).one()
    if failures >= MAX_POST_FAILURES and at - _aware(created_at) >= dead_after:
        set_aside(db, post_id, at, f"failed {failures} times; last: {reason}")
        return True
    return False


def _aware(moment: datetime) -> datetime:
    # Core statements read SQLite's naive UTC back as naive.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class DeadLetter(NamedTuple):
    id: int
    destination: str
    text: str
    created_at: datetime
    dead_at: datetime
    reason: str
    failures: int


def dead_letters(db: Database, limit: int = 100) -> list[DeadLetter]:
    """The posts set aside, oldest first."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(_table.c.id, destination_column(), _table.c.text, _table.c.created_at,
                   _table.c.dead_at, _table.c.dead_reason, _table.c.failures)
            .where(_table.c.dead_at.is_not(None), _table.c.delivered_at.is_(None))
            .order_by(_table.c.id).limit(limit)).all()
    return [DeadLetter(*row) for row in rows]


def dead_letter_count(db: Database) -> int:
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(_table)
                                  .where(_table.c.dead_at.is_not(None),
                                         _table.c.delivered_at.is_(None))).scalar_one()


def retry_dead(db: Database, post_id: int) -> bool:
    """Put a dead letter back in line (its failures forgotten); False when `post_id` is none."""
    with db.engine.begin() as connection:
        return connection.execute(
            update(_table).where(_table.c.id == post_id, _table.c.dead_at.is_not(None),
                                 _table.c.delivered_at.is_(None))
            .values(dead_at=None, dead_reason=None, failures=0)).rowcount == 1


def mark_delivered(db: Database, post_id: int, at: datetime) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(_table).where(_table.c.id == post_id,
                                                _table.c.delivered_at.is_(None))
                           .values(delivered_at=at))


def destination(post: OutgoingPost) -> str:
    """Where a post goes, as pacing counts it: the member of a private post, else its room."""
    return post.room if post.room is not None else post.recipient or ""


async def deliver_pending(db: Database, transport: Transport,
                          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                          per_minute: int = DEFAULT_PER_MINUTE,
                          dead_after: timedelta = DEAD_LETTER_AFTER,
                          offload: Offload | None = None) -> int:
    """Send the undelivered posts each room may have now, each room's in order; return how
    many this sender sent. The transport's sends run here, on the caller's event loop; the
    database calls through `offload` (default: inline).

    A room stops for this run at its pacing limit (`per_minute` posts in any minute), at a post
    another sender holds, and at a post that failed: its later posts wait, and go on a later
    run. Other rooms go on. After failures in `MAX_FAILURES` rooms the run stops (the chat
    service is down, not one room). A post refused for good, or failing for the
    `MAX_POST_FAILURES`th time, is set aside and its room goes on. While it sends, this sender
    renews the lease of the posts it holds."""
    sent = 0
    failures = 0
    after_id = 0
    run = offload or inline
    # A transport limited per sender (a WeCom group robot) says which sender serves a room.
    pace_key = getattr(transport, "pacing_key", None) or same_destination
    pacer = await run(RoomPacer.load, db, per_minute, clock(), pace_key)
    stopped: set[str] = set()  # rooms whose next post waits: paced, held elsewhere, or failed
    while posts := await run(pending_posts, db, after_id, per_room=per_minute):
        after_id = posts[-1].id
        now = clock()
        chosen: list[OutgoingPost] = []
        room_left: dict[str, int] = {}
        for post in posts:
            where = destination(post)
            if where in stopped:
                continue
            sender = pace_key(where)
            left = room_left.setdefault(sender, pacer.room_left(where, now))
            if left <= 0:
                stopped.add(where)
                continue
            room_left[sender] = left - 1
            chosen.append(post)
        taken = await run(take_for_sending, db, [post.id for post in chosen], now)
        delivered: set[int] = set()
        renewing = asyncio.create_task(_keep_leases(db, taken, delivered, clock, run)) \
            if taken else None
        try:
            for post in chosen:
                where = destination(post)
                if post.id not in taken or where in stopped:
                    stopped.add(where)
                    continue
                try:
                    await transport.send(post)
                except Exception as error:  # the transport says why; the post is kept either way
                    # Stored, logged and shown (gridbot outbox dead, the API): a callback
                    # URL's key or a token in the error's text is masked first.
                    reason = mask_credentials(f"{type(error).__name__}: {error}")
                    if getattr(error, "refused_for_good", False):
                        await run(set_aside, db, post.id, clock(), reason)  # the room goes on
                        delivered.add(post.id)  # no longer held
                        continue
                    if not await run(count_failure, db, post.id, clock(), reason, dead_after):
                        log.warning("post %s not delivered yet (%s); it stays in the outbox",
                                    post.id, reason)
                    stopped.add(where)
                    failures += 1
                    if failures >= MAX_FAILURES:
                        return sent
                    continue
                at = clock()
                await run(mark_delivered, db, post.id, at)
                pacer.sent(where, at)
                delivered.add(post.id)
                sent += 1
        finally:
            if renewing is not None:
                renewing.cancel()
                try:
                    await renewing
                except asyncio.CancelledError:
                    # The renewer's own end is expected; this sender's own cancellation (the
                    # loop stopped while it waited here) must go on, or the loop never stops.
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise
            # Taken but not sent (behind a held post, or after a failure): free for the next try.
            await run(release, db, sorted(taken - delivered))
        if len(posts) < PAGE:
            break
    return sent


async def _keep_leases(db: Database, taken: set[int], done: set[int],
                       clock: Callable[[], datetime], run: Offload = inline) -> None:
    """Renew the lease of the posts this sender holds (`taken` not yet `done`) every
    `RENEW_EVERY`, for as long as it sends: a slow chat service never lets another sender take a
    post that is being sent, and a dead sender's lease lapses within `SEND_LEASE`."""
    while True:
        await asyncio.sleep(RENEW_EVERY.total_seconds())
        try:
            await run(renew, db, sorted(taken - done), clock())
        except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease
            log.warning("could not renew the lease of posts being sent", exc_info=True)
