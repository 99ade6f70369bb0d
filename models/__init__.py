"""SQLModel tables and the database session."""

from models.tables import (
    FINAL_STATUSES,
    InboundMessage,
    OutboundPost,
    Status,
    Ticket,
    TicketEvent,
)

__all__ = ["FINAL_STATUSES", "InboundMessage", "OutboundPost", "Status", "Ticket", "TicketEvent"]
