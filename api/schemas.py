"""What the operators' API returns: every model and field described for the OpenAPI page."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from flows.masking import mask_name, mask_text, shown_actor, ticket_personal
from flows.escalation import current_node
from flows.network import Network
from flows.open_tickets import is_overdue
from flows.request_parser import CATEGORIES
from flows import texts
from models.tables import Ticket, TicketEvent


class TicketOut(BaseModel):
    """A ticket as a list shows it. Above the micro-grid level it is masked by the one rule of
    chat and digests (flows/masking.py): reporter → 王*, phone numbers → 138****5678, no room
    (neither the field nor in the description)."""

    number: int = Field(description="The ticket number people see as #N.")
    status: str = Field(description="open, claimed, verifying (resolved, waiting for 核查), resolved, "
                                    "closed, cancelled, or merged (joined to `parent_id`).")
    category: str = Field(description=f"One of the ten category codes: {', '.join(CATEGORIES)}.")
    category_name: str = Field(description="The category in Chinese, as posted in chat.")
    urgent: bool
    node_id: str = Field(description="The node the ticket was routed to.")
    current_node_id: str = Field(description="The node answerable now (after escalations).")
    escalation_level: int = Field(description="Levels above its node it has been escalated.")
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    description: str
    reporter_name: str
    assignee_name: str | None = Field(None, description="Who claimed it, if anyone.")
    created_at: datetime
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    deadline_at: datetime | None = Field(None, description="When its running timer runs out.")
    overdue: bool = Field(description="Open or claimed and past its deadline "
                                      "(flows/open_tickets.py).")
    rating: str | None = Field(None, description="满意, 基本满意 or 不满意, once rated.")

    @classmethod
    def of(cls, ticket: Ticket, network: Network, now: datetime, masked: bool) -> TicketOut:
        current = current_node(network, ticket).id if ticket.node_id in network else ticket.node_id
        return cls(
            number=ticket.id, status=ticket.status, category=ticket.category,
            category_name=texts.CATEGORY_NAMES.get(ticket.category, ticket.category),
            urgent=ticket.urgent, node_id=ticket.node_id, current_node_id=current,
            escalation_level=ticket.escalation_level, building=ticket.building, unit=ticket.unit,
            floor=ticket.floor, room=None if masked else ticket.room,
            description=mask_text(ticket.text, ticket_personal(ticket.reporter_name, ticket.room))
            if masked else ticket.text,
            reporter_name=mask_name(ticket.reporter_name) if masked else ticket.reporter_name,
            assignee_name=ticket.assignee_name, created_at=ticket.created_at,
            claimed_at=ticket.claimed_at, resolved_at=ticket.resolved_at,
            closed_at=ticket.closed_at, deadline_at=ticket.deadline_at,
            overdue=is_overdue(ticket, now),
            rating=ticket.rating)


class EventOut(BaseModel):
    """One step of a ticket's history."""

    kind: str = Field(description="created, claimed, resolved, escalated, … (see texts.EVENT_NAMES)")
    kind_name: str = Field(description="The step in Chinese.")
    actor_name: str
    at: datetime
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, event: TicketEvent, masked: bool, ticket: Ticket, network: Network) -> EventOut:
        """The event as shown; above the micro-grid a resident's name and the note are masked
        (`ticket` gives its reporter's name and room)."""
        personal = ticket_personal(ticket.reporter_name, ticket.room)
        return cls(kind=event.kind, kind_name=texts.EVENT_NAMES.get(event.kind, event.kind),
                   actor_name=shown_actor(network, event.actor_id, event.actor_name, masked),
                   at=event.at, from_status=event.from_status, to_status=event.to_status,
                   note=mask_text(event.note, personal) if masked and event.note else event.note)


class TicketDetail(TicketOut):
    """A ticket with its whole history."""

    events: list[EventOut] = Field(description="The whole history, oldest first.")


class TicketPage(BaseModel):
    """One page of a ticket list, newest first."""

    items: list[TicketOut]
    total: int = Field(description="Tickets matching the filters, on all pages.")
    page: int
    per_page: int


class NodeOut(BaseModel):
    """A node of the network with its open tickets (open or claimed; flows/open_tickets.py),
    counted two ways: those standing at the node itself now (`open`, `overdue`), and those of its
    whole subtree wherever they stand (`subtree_open`, `subtree_overdue`; the dashboard's headline
    for a token of this node). For every node, `subtree_open` is `open` summed over its subtree
    plus `escalated_above_open`."""

    id: str
    name: str
    level: str
    group_name: str
    head_name: str
    open: int = Field(description="Open or claimed tickets standing at this node now (its group "
                                  "is answerable: routed here, or escalated to here).")
    overdue: int = Field(description="Of `open`, how many are past their deadline.")
    subtree_open: int = Field(description="Open or claimed tickets routed to this node or any node "
                                          "below it, wherever they stand now (escalated above it "
                                          "too).")
    subtree_overdue: int = Field(description="Of `subtree_open`, how many are past their deadline.")
    escalated_above_open: int = Field(description="Of `subtree_open`, how many were escalated "
                                                  "past this node and stand above it.")
    escalated_above_overdue: int = Field(description="Of `escalated_above_open`, how many are "
                                                     "past their deadline.")
    children: list[NodeOut] = []


class RatesOut(BaseModel):
    """A subtree's rates over a period (flows/figures.py gives each formula); rates are 0–1,
    null when there is nothing to divide by; times in minutes."""

    requests: int = Field(description="受理: requests made in the period (not joined, not withdrawn).")
    households: int = Field(description="服务户次: requests plus the reports joined to them.")
    response_rate: float | None = Field(description="响应率: claimed within the claim limit / claims due.")
    on_time_rate: float | None = Field(description="按期办结率: resolved within the limit (extensions counted) / resolved.")
    resolution_rate: float | None = Field(description="解决率: resolved / came due.")
    satisfaction_rate: float | None = Field(description="满意率: (满意 + 基本满意) / rated.")
    reopen_rate: float | None = Field(description="重办率: reopened / ever resolved.")
    average_claim_minutes: float | None = None
    average_resolve_minutes: float | None = None
    counts: dict[str, float] = Field(description="What the rates are made of (flows.figures.RateCounts).")


class FiguresOut(BaseModel):
    """A node's subtree over a period: the digest's counts."""

    node_id: str
    since: datetime
    until: datetime
    new: int
    claimed: int
    resolved: int
    overdue: int = Field(description="Active tickets past their deadline at `until`.")
    average_claim_minutes: float | None = Field(description="Created → claimed, for tickets claimed in the period.")
    average_resolve_minutes: float | None = Field(description="Created → resolved, for tickets resolved in the period.")
    ratings: dict[str, int] = Field(description="Ratings given in the period: 满意, 基本满意, 不满意.")
    extensions: int = Field(0, description="Extensions (延期) granted in the period, by a head or "
                                           "automatically, as the digest counts them.")
    departments_late: int = Field(0, description="Departments called (呼叫) that did not report "
                                                 "(报到) in time, in the period, as the digest counts them.")
    rates: RatesOut | None = Field(None, description="The rates of the requests made in the "
                                                     "period (flows/figures.py), as the digest shows them.")


class AccountHealth(BaseModel):
    """One bot account of a transport that holds several (WeCom, DingTalk). Times are UTC."""

    id: str = Field(description="The account's id in the config (transport.wecom.accounts[].id…).")
    target: str | None = Field(None, description="Where its posts go, masked.")
    connected: bool = Field(description="The last try of this account was accepted.")
    ready: bool = Field(True, description="False once every try of this account failed for "
                                          "`transport.unready_after`.")
    last_event_at: datetime | None = Field(None, description="The last message it received.")
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None
    attempts_since_success: int = 0
    failing_since: datetime | None = None


class TransportHealth(BaseModel):
    """The chat transport: where it sends, how its last tries went, and what waits to be sent.
    Times are UTC. Credentials in `target` and `last_error` are masked (`***`)."""

    kind: str = Field(description="simulator, wechaty, webhook, wecom or dingtalk.")
    target: str | None = Field(None, description="Where posts go: the webhook's callback URL or "
                                                 "the wechaty gateway's HOST:PORT, masked.")
    connected: bool = Field(description="wechaty: the gateway's event stream is open and the "
                                        "account logged in; webhook: the last try was accepted.")
    ready: bool = Field(True, description="What `/readyz` says of the transport: false once every "
                                          "try failed for `transport.unready_after` (wechaty: also "
                                          "before its first login).")
    last_event_at: datetime | None = Field(None, description="wechaty: the last event from the gateway.")
    reconnects: int = Field(0, description="wechaty: logins after the first one.")
    last_success_at: datetime | None = Field(None, description="The last post delivered (wechaty: "
                                                               "or login).")
    last_error_at: datetime | None = None
    last_error: str | None = Field(None, description="The last failed try, in short (e.g. `CallbackRefused: "
                                                     "callback https://***@host/cb answered 500 to post 7`).")
    attempts_since_success: int = Field(0, description="Failed tries since the last success.")
    failing_since: datetime | None = Field(None, description="The first failed try after the last "
                                                             "success; null while the last try worked.")
    pending_posts: int = Field(description="Bot posts waiting in the outbox for the groups of my "
                                           "subtree (for a token at the network's top: all).")
    dead_letters: int = Field(0, description="Posts of the same scope set aside as dead letters "
                                             "(`gridbot outbox dead`).")
    accounts: list[AccountHealth] = Field([], description="wecom, dingtalk: each bot account "
                                                          "on its own (the fields above sum them up).")


class AttachmentOut(BaseModel):
    """A photo, voice note, video, file or location a message carried, joined to the ticket."""

    id: int
    kind: str = Field(description="image, voice, video, file or location")
    kind_name: str = Field(description="The kind in Chinese (照片, 语音…).")
    purpose: str | None = Field(None, description="request (with the 下单), detail (补充) or "
                                                  "evidence (after the 办结)")
    size: int | None = Field(None, description="Bytes.")
    mime: str | None = None
    sha256: str | None = Field(None, description="Of the content, when it was kept.")
    at: datetime
    url: str | None = Field(None, description="Where the content is served "
                                              "(`GET /api/attachments/{id}`); null when only the "
                                              "platform's media id was kept.")
    media_id: str | None = Field(None, description="The platform's id or URL, when the content "
                                                   "was not downloaded.")
    details: dict | None = Field(None, description="duration_s; latitude, longitude, label.")
