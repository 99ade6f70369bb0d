"""The tables. Nothing is ever deleted: a ticket changes only through events, messages are kept."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel

from flows.status import Status  # noqa: F401 - stored here, imported from here by most


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no offset, so values are normalised to UTC on the way in and marked UTC on the
    way out; comparisons in SQL then compare like with like.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(timezone.utc).replace(tzinfo=None) if dialect.name == "sqlite" \
            else value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None \
            else value.astimezone(timezone.utc)


def _time_column(*, nullable: bool = True, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


# The statuses of an open ticket (flows/open_tickets.py's OPEN_STATUSES), as the partial index's
# condition; a test holds the two equal.
OPEN_WHERE = "status IN ('open', 'claimed', 'verifying')"
ID_LENGTH = 200  # ids and names from a chat service are kept in columns this wide


FINAL_STATUSES = frozenset({Status.CLOSED, Status.CANCELLED})


class Ticket(SQLModel, table=True):
    # A member's recent requests are counted at each 下单 (policy.request_limit).
    __table_args__ = (
        sa.Index("ix_ticket_reporter_created", "reporter_id", "created_at"),
        # By home node, with what 统计 counts: a subtree's figures read the index alone. With the
        # ticket's number (SQLite's indexes hold it anyway), a subtree's tickets are joined to
        # their events without reading the table.
        sa.Index("ix_ticket_node", "node_id", "status", "rating", postgresql_include=["id"]),
        # The open tickets (a tenth of a year's), by home node: every view's first question.
        # Partial, so it stays small and no planner needs statistics to prefer it; queries name
        # the statuses as literals (flows/open_tickets.py) for the planner to match it. In the
        # order they are counted (per node and escalation level): a count reads it without a sort.
        sa.Index("ix_ticket_open", "node_id", "escalation_level", "status", "deadline_at",
                 "urgent", "category", sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE)),
        # The open tickets oldest first: a list's first page walks it and stops.
        sa.Index("ix_ticket_open_age", "created_at",
                 sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE)),
        sa.Index("ix_ticket_open_deadline", "deadline_at",
                 sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE)),
        sa.Index("ix_ticket_category", "category", "urgent"),
        # 统计 at the top: every ticket by status and rating, from the index alone.
        sa.Index("ix_ticket_rating_status", "rating", "status"),
        # Reports joined to a ticket (一事多报): few among many, so the index holds only them; a
        # planner with statistics on a column of NULLs would otherwise read the whole table.
        sa.Index("ix_ticket_parent", "parent_id", sqlite_where=sa.text("parent_id IS NOT NULL"),
                 postgresql_where=sa.text("parent_id IS NOT NULL")),
    )

    # The primary key is the number people see as `#N`.
    id: int | None = Field(default=None, primary_key=True)
    source_message_id: str = Field(unique=True, max_length=ID_LENGTH)
    group_room: str = Field(index=True, max_length=ID_LENGTH)  # where the request was posted
    node_id: str = Field(max_length=ID_LENGTH)     # the micro-grid (or higher node) it belongs to
    reporter_id: str = Field(max_length=ID_LENGTH)
    reporter_name: str = Field(max_length=ID_LENGTH)
    text: str
    category: str = Field(max_length=40)
    urgent: bool = False
    building: str | None = Field(default=None, max_length=20)
    unit: str | None = Field(default=None, max_length=20)
    floor: str | None = Field(default=None, max_length=20)
    room: str | None = Field(default=None, max_length=20)
    status: Status = Field(default=Status.OPEN, sa_type=sa.String(20))
    assignee_id: str | None = Field(default=None, max_length=ID_LENGTH)
    assignee_name: str | None = Field(default=None, max_length=ID_LENGTH)
    escalation_level: int = 0
    resolution: str | None = None
    rating: str | None = Field(default=None, max_length=20)
    rating_comment: str | None = None
    created_at: datetime = Field(sa_column=_time_column(nullable=False, index=True))
    # Indexed: digests and figures count by period on each of these times.
    claimed_at: datetime | None = Field(default=None, sa_column=_time_column(index=True))
    resolved_at: datetime | None = Field(default=None, sa_column=_time_column(index=True))
    closed_at: datetime | None = Field(default=None, sa_column=_time_column())
    # The escalation clock (flows.escalation.clock_after): when it last (re)started, when the
    # running timer runs out (past it the ticket is overdue), and when the ticket next escalates;
    # None once it is resolved. Indexed: a scan reads only due tickets, a report only overdue ones.
    clock_started_at: datetime | None = Field(default=None, sa_column=_time_column())
    deadline_at: datetime | None = Field(default=None, sa_column=_time_column())
    escalation_due_at: datetime | None = Field(default=None, sa_column=_time_column(index=True))
    # A report joined to the ticket of the same problem (status merged): no timers of its own,
    # told of the claim and the resolution of that ticket (一事多报, design §7).
    parent_id: int | None = Field(default=None, foreign_key="ticket.id")
    # An area-wide notice (公告, 一事多报): until when new reports of its problem in its area join it.
    notice_until: datetime | None = Field(default=None, sa_column=_time_column())


class TicketEvent(SQLModel, table=True):
    __tablename__ = "ticket_event"
    __table_args__ = (
        # Digests count events of a few kinds over a period (延期 granted, ratings, late
        # departments): from the period, or from a subtree's tickets.
        # With the note, a period's ratings are read from the index alone: the dashboard's
        # month at the city read ~75,000 rows of the table for it; with the ticket, a subtree's
        # are joined to its tickets' numbers (ix_ticket_node) from the two indexes alone.
        sa.Index("ix_ticket_event_kind_at_note", "kind", "at", "note", "ticket_id"),
        sa.Index("ix_ticket_event_ticket_kind_at", "ticket_id", "kind", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    kind: str = Field(max_length=40)  # created, claimed, resolved, rated, reopened, …
    actor_id: str = Field(max_length=ID_LENGTH)
    actor_name: str = Field(max_length=ID_LENGTH)
    at: datetime = Field(sa_column=_time_column(nullable=False))
    source_message_id: str | None = Field(default=None, max_length=ID_LENGTH)
    from_status: Status | None = Field(default=None, sa_type=sa.String(20))
    to_status: Status | None = Field(default=None, sa_type=sa.String(20))
    note: str | None = None


class StandIn(SQLModel, table=True):
    """A head away (请假) and who stands in (代理) until `until`: the stand-in is @-mentioned and
    sent what the head is, and may act as the head; `ended_at` when the head came back early."""

    __tablename__ = "stand_in"

    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(index=True, max_length=ID_LENGTH)       # the head away
    stand_in_id: str = Field(index=True, max_length=ID_LENGTH)
    stand_in_name: str = Field(max_length=ID_LENGTH)
    until: datetime = Field(sa_column=_time_column(nullable=False))
    created_at: datetime = Field(sa_column=_time_column(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=_time_column())


class DepartmentCall(SQLModel, table=True):
    """A department called in on a ticket (呼叫, 部门报到): by whom, from which group, until when
    it must report (`报到`), when and by whom it did; `late_told_at` once the caller was told it
    did not report in time."""

    __tablename__ = "department_call"
    __table_args__ = (sa.UniqueConstraint("ticket_id", "department_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    department_id: str = Field(max_length=ID_LENGTH)
    called_by: str = Field(max_length=ID_LENGTH)
    called_from_room: str = Field(max_length=ID_LENGTH)
    called_at: datetime = Field(sa_column=_time_column(nullable=False))
    report_due_at: datetime = Field(sa_column=_time_column(nullable=False, index=True))
    reported_at: datetime | None = Field(default=None, sa_column=_time_column())
    reported_by: str | None = Field(default=None, max_length=ID_LENGTH)
    late_told_at: datetime | None = Field(default=None, sa_column=_time_column())


class TicketEscalation(SQLModel, table=True):
    """One escalation post: the ticket reaching `level`, or, at the top, reminder `round` n.

    The unique key is what makes an escalation post exactly once: a second scan, overlapping or
    after a crash, cannot write the same (ticket, level, round) again.
    """

    __tablename__ = "ticket_escalation"
    __table_args__ = (sa.UniqueConstraint("ticket_id", "level", "round"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    level: int
    round: int = 0                     # 0: arrival at the level; 1, 2, …: reminders at the top
    cause: str = Field(max_length=20)  # claim / resolve (timers) or whistle (by hand)
    at: datetime = Field(sa_column=_time_column(nullable=False))


class GridNetwork(SQLModel, table=True):
    """A shape of the network (`Network.fingerprint`) whose numbering `grid_node` holds; an
    instance writes its own on start when it is missing (`models.subtrees.sync_network`)."""

    __tablename__ = "grid_network"

    fingerprint: str = Field(primary_key=True, max_length=16)
    nodes: int
    used_at: datetime = Field(sa_column=_time_column(nullable=False))


class GridNode(SQLModel, table=True):
    """A node's interval in the depth-first numbering of one network shape (a nested set,
    `Network.intervals`): the subtree of a node is the nodes whose `position` lies in
    [its position, its subtree_last], so a query scoped to any subtree is one range over this
    table's index."""

    __tablename__ = "grid_node"
    __table_args__ = (sa.Index("ix_grid_node_range", "fingerprint", "position", "node_id"),)

    fingerprint: str = Field(primary_key=True, max_length=16)
    node_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    position: int
    subtree_last: int
    room: str = Field(max_length=ID_LENGTH, index=True)   # the node's group
    depth: int             # 0 for the top node: a ticket of this home node escalated `depth - d`
                           # levels stands at its ancestor of depth d


class DigestRun(SQLModel, table=True):
    """A digest sent to one node for one firing of its schedule; unique, so it goes once."""

    __tablename__ = "digest_run"
    __table_args__ = (sa.UniqueConstraint("schedule", "node_id", "fire_at"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(max_length=200)    # the level and cron it was sent for
    node_id: str = Field(max_length=ID_LENGTH)
    fire_at: datetime = Field(sa_column=_time_column(nullable=False))
    period_start: datetime = Field(sa_column=_time_column(nullable=False))
    sent_at: datetime = Field(sa_column=_time_column(nullable=False))


class Skipped(StrEnum):
    """Why a stored message was not acted on (`inbound_message.skipped`)."""

    OWN_POST = "own_post"            # the bot's own post, echoed back by the gateway
    OWN_NOTICE = "own_notice"        # a notice of the bot's, pasted by a member
    SYSTEM = "system"                # a pat, a join notice: not a member's words
    REQUEST_LIMIT = "request_limit"  # 下单 past the member's limit (policy.request_limit)
    UNKNOWN_ROOM = "unknown_room"    # from a group that is not in the network


class InboundMessage(SQLModel, table=True):
    """Every message the bot received, stored before it is acted on."""

    __tablename__ = "inbound_message"
    # A member's messages over a window: was a flood notice given already?
    __table_args__ = (sa.Index("ix_inbound_message_sender_sent", "sender_id", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=ID_LENGTH)  # the transport's id: redelivery is a no-op
    room: str = Field(max_length=ID_LENGTH)
    sender_id: str = Field(max_length=ID_LENGTH)
    sender_name: str = Field(max_length=ID_LENGTH)
    text: str
    quoted: str | None = None
    sent_at: datetime = Field(sa_column=_time_column(nullable=False))
    received_at: datetime = Field(sa_column=_time_column(nullable=False))
    handled_at: datetime | None = Field(default=None, sa_column=_time_column())
    # Set when the text was longer than the policy allows and is kept cut to the limit.
    original_length: int | None = None
    # Why the bot did not act on it although it was handled (one of SKIPPED_REASONS); None when
    # it was acted on, or was chatter.
    skipped: str | None = Field(default=None, max_length=20)
    # What the transport said beyond the text (mention ids, a recall, a system notice, the bot's
    # own post), so a retry acts on the message as it came; None when there was nothing.
    details: dict | None = Field(default=None, sa_column=Column(JSON(none_as_null=True),
                                                                nullable=True))
    # Acting on it failed: how often, why last, when it is tried again; set aside (a dead
    # letter) after the last try, until an operator retries it.
    attempts: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False,
                                                      server_default="0"))
    last_error: str | None = Field(default=None, max_length=500)
    retry_at: datetime | None = Field(default=None, sa_column=_time_column(index=True))
    dead_at: datetime | None = Field(default=None, sa_column=_time_column())


class Attachment(SQLModel, table=True):
    """A photo, voice note, video, file or location a message carried (issue 26), kept whether
    or not it joined a ticket: the content as a file named by its SHA-256 under the media folder
    (`path`, relative to it), else the platform's `media_id` when the content was not
    downloaded. `purpose` says why it joined its ticket (request, detail, evidence); `refused`
    is set, and nothing kept, for content over the size limit of its kind."""

    __tablename__ = "attachment"
    # One row per medium of a message: a redelivered message never stores its media twice.
    __table_args__ = (sa.UniqueConstraint("message_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    message_id: str = Field(max_length=ID_LENGTH)
    position: int = 0                   # its place among the message's media, from 0
    room: str = Field(max_length=ID_LENGTH)
    sender_id: str = Field(max_length=ID_LENGTH)
    kind: str = Field(max_length=20)    # image, voice, video, file, location
    purpose: str | None = Field(default=None, max_length=20)  # request, detail, evidence
    path: str | None = Field(default=None, max_length=200)    # under the media folder
    media_id: str | None = None         # the platform's id or URL, when not downloaded
    mime: str | None = Field(default=None, max_length=100)
    filename: str | None = Field(default=None, max_length=ID_LENGTH)
    size: int | None = None             # bytes
    sha256: str | None = Field(default=None, max_length=64)
    # Voice and video: duration_s; a location: latitude, longitude, label.
    details: dict | None = Field(default=None, sa_column=Column(JSON(none_as_null=True),
                                                                nullable=True))
    refused: str | None = Field(default=None, max_length=20)  # too_large
    at: datetime = Field(sa_column=_time_column(nullable=False))


class ReplyRoute(SQLModel, table=True):
    """Where the answer to a received message may go, for as long as the platform allows: WeCom's
    `response_url` (an hour, one call: `once`), DingTalk's `sessionWebhook` (until its expiry).
    Kept so that answers written before a restart still go there after it. Routing state, not a
    record: a row is deleted once used up or expired, as its URL lets anyone post there."""

    __tablename__ = "reply_route"

    message_id: str = Field(max_length=ID_LENGTH, primary_key=True)
    platform: str = Field(max_length=20)        # wecom, dingtalk
    account_id: str = Field(max_length=ID_LENGTH)
    url: str
    room: str = Field(max_length=ID_LENGTH)
    sender_id: str = Field(max_length=ID_LENGTH)
    once: bool = True
    expires_at: datetime = Field(sa_column=_time_column(nullable=False, index=True))


class OutboundPost(SQLModel, table=True):
    """The outbox: a bot post is written with the change that caused it, then delivered."""

    __tablename__ = "outbound_post"

    id: int | None = Field(default=None, primary_key=True)
    room: str | None = Field(default=None, max_length=ID_LENGTH, index=True)  # None: private
    recipient_id: str | None = Field(default=None, max_length=ID_LENGTH)  # a private message's
    text: str
    mentions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reply_to: str | None = Field(default=None, max_length=ID_LENGTH)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    created_at: datetime = Field(sa_column=_time_column(nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=_time_column(index=True))
    # Set by the sender that took the post (and renewed while it sends); another sender leaves
    # it alone until the lease ends. `sending_by` names that sender (host, process, start), so a
    # restarted process takes back at once what its dead predecessor held.
    sending_since: datetime | None = Field(default=None, sa_column=_time_column())
    sending_by: str | None = Field(default=None, max_length=ID_LENGTH)
    # Tries the chat service failed; a dead letter (`dead_at`) is a post it refused for good or
    # that failed too often: set aside, its room goes on, an operator may send it again.
    failures: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False,
                                                      server_default="0"))
    dead_at: datetime | None = Field(default=None, sa_column=_time_column())
    dead_reason: str | None = Field(default=None, max_length=ID_LENGTH)


class ApiToken(SQLModel, table=True):
    """A bearer token of the operators' API, scoped to one node's subtree. Only its SHA-256 is
    kept: a copy of the database gives no usable token."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=ID_LENGTH)   # who holds it; the actor of what it does
    node_id: str = Field(max_length=ID_LENGTH)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(sa_column=_time_column(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_time_column())


class MemberName(SQLModel, table=True):
    """A display name a head or deputy was seen posting under (a group nickname such as
    `网格长-邱煥武`, other than the config's name), so that an @-mention of it finds them. Kept
    once per (member, name); `folded` is the name as mentions are compared (`flows.network.
    fold_name`)."""

    __tablename__ = "member_name"
    __table_args__ = (sa.UniqueConstraint("member_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(max_length=ID_LENGTH)
    name: str = Field(max_length=ID_LENGTH)
    folded: str = Field(max_length=ID_LENGTH, index=True)
    first_seen_at: datetime = Field(sa_column=_time_column(nullable=False))


class Heartbeat(SQLModel, table=True):
    """One row per name, rewritten by `/readyz`: the database takes a write (not read-only, not
    full)."""

    __tablename__ = "heartbeat"

    name: str = Field(primary_key=True, max_length=ID_LENGTH)
    beat_at: datetime = Field(sa_column=_time_column(nullable=False))


class Circular(SQLModel, table=True):
    """A circular (通知下发, flows/circulars.py): a head's notice relayed into every group of
    their subtree (down to the level `down_to`, or all), numbered `通知#id`. `send_at` is when it
    goes (a scheduled time, or the end of quiet hours for one that is not urgent); `sent_at` once
    its posts are in the outbox; the heads still silent at `remind_at` are reminded once
    (`reminded_at`)."""

    __tablename__ = "circular"

    id: int | None = Field(default=None, primary_key=True)
    # The message (or API call) that sent it: a redelivered one finds it taken.
    source_message_id: str = Field(unique=True, max_length=ID_LENGTH)
    node_id: str = Field(max_length=ID_LENGTH, index=True)   # the sender's node
    room: str | None = Field(default=None, max_length=ID_LENGTH)  # where it was said (None: API)
    sender_id: str = Field(max_length=ID_LENGTH)
    sender_name: str = Field(max_length=ID_LENGTH)
    text: str
    urgent: bool = False
    down_to: str | None = Field(default=None, max_length=40)   # a level code; None: every level
    created_at: datetime = Field(sa_column=_time_column(nullable=False))
    send_at: datetime = Field(sa_column=_time_column(nullable=False, index=True))
    sent_at: datetime | None = Field(default=None, sa_column=_time_column())
    groups: int = 0                       # how many groups it was posted into
    remind_at: datetime | None = Field(default=None, sa_column=_time_column(index=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_time_column())


class CircularDelivery(SQLModel, table=True):
    """A circular posted into one group: when, as which outbox post, and the first receipt
    (`收到`) of the group's head or deputy; unique, so a group gets it once."""

    __tablename__ = "circular_delivery"
    __table_args__ = (sa.UniqueConstraint("circular_id", "node_id"),
                      # A bare 收到 looks for the newest circular posted in its group.
                      sa.Index("ix_circular_delivery_room_posted", "room", "posted_at"))

    id: int | None = Field(default=None, primary_key=True)
    circular_id: int = Field(foreign_key="circular.id")
    node_id: str = Field(max_length=ID_LENGTH)
    room: str = Field(max_length=ID_LENGTH)
    head_id: str = Field(max_length=ID_LENGTH)
    posted_at: datetime = Field(sa_column=_time_column(nullable=False))
    post_id: int | None = None            # the outbox row (its first part): delivered when
    head_receipt_at: datetime | None = Field(default=None, sa_column=_time_column())
    head_receipt_by: str | None = Field(default=None, max_length=ID_LENGTH)
    reminder_post_id: int | None = None


class CircularReceipt(SQLModel, table=True):
    """One member's `收到` to a circular in one group: a head's (head or deputy of the group, or
    their stand-in) or a resident's; once per member and group."""

    __tablename__ = "circular_receipt"
    __table_args__ = (sa.UniqueConstraint("circular_id", "node_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    circular_id: int = Field(foreign_key="circular.id")
    node_id: str = Field(max_length=ID_LENGTH)
    member_id: str = Field(max_length=ID_LENGTH)
    member_name: str = Field(max_length=ID_LENGTH)
    by_head: bool = False
    at: datetime = Field(sa_column=_time_column(nullable=False))
    message_id: str = Field(max_length=ID_LENGTH)
