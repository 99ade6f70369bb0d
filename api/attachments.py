"""`/api/tickets/{n}/attachments` and `/api/attachments/{id}`: the media kept with a ticket of
the caller's subtree (photos, voice, video, files, locations; issue 26). Anything outside the
subtree, or not joined to a ticket, answers 404 as if it did not exist (api/auth.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import FileResponse

from api.auth import caller, not_found, the_bot
from api.params import TicketNumber
from api.schemas import AttachmentOut
from api.tickets import ticket_in_scope
from api.tokens import Principal
from bot.attachments import attachments_of
from bot.runtime import Bot
from flows import texts
from models.tables import Attachment, Ticket

router = APIRouter(tags=["attachments"])
NO_CACHE_ELSEWHERE = {"Cache-Control": "private, max-age=3600"}


def attachment_out(row: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.id, kind=row.kind, kind_name=texts.MEDIA_KIND_NAMES.get(row.kind, row.kind),
        purpose=row.purpose, size=row.size, mime=row.mime, sha256=row.sha256, at=row.at,
        url=f"/api/attachments/{row.id}" if row.path else None, media_id=row.media_id,
        details=row.details)


@router.get("/api/tickets/{number}/attachments", response_model=list[AttachmentOut],
            summary="A ticket's attachments", responses={404: {"description": "No such ticket "
                                                                              "in my subtree"}})
def list_attachments(number: TicketNumber, bot: Annotated[Bot, Depends(the_bot)],
                     principal: Annotated[Principal, Depends(caller)]) -> list[AttachmentOut]:
    ticket_in_scope(bot, principal, number)
    with bot.db.session() as session:
        return [attachment_out(row) for row in attachments_of(session, number)]


@router.get("/api/attachments/{attachment_id}", summary="One attachment's content",
            response_class=FileResponse,
            responses={200: {"description": "The content, with its MIME type"},
                       404: {"description": "No such attachment on a ticket of my subtree, or "
                                            "only its media id was kept"}})
def serve_attachment(attachment_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                     bot: Annotated[Bot, Depends(the_bot)],
                     principal: Annotated[Principal, Depends(caller)]) -> FileResponse:
    return attachment_file(bot, principal, attachment_id)


def attachment_file(bot: Bot, principal: Principal, attachment_id: int) -> FileResponse:
    """The content of an attachment joined to a ticket `principal` sees, streamed from its
    file with its MIME type; 404 otherwise (api/auth.py: nothing tells what exists elsewhere)."""
    with bot.db.session() as session:
        row = session.get(Attachment, attachment_id)
        ticket = session.get(Ticket, row.ticket_id) if row and row.ticket_id else None
    if row is None or ticket is None or not principal.sees(ticket) or not row.path:
        raise not_found(f"attachment {attachment_id}")
    path = bot.dispatcher.media_store.file(row.path)
    if path is None:
        raise not_found(f"attachment {attachment_id}")
    return FileResponse(path, media_type=row.mime or "application/octet-stream",
                        headers=NO_CACHE_ELSEWHERE)
