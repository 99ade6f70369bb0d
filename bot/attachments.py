"""Keeping the media messages carry (附件, issue 26): content-addressed files under the media
folder, and the `attachment` rows that say which message, ticket and member each belongs to.

A message's media are written to files when it arrives, before it is stored (`keep`), and
described in its `inbound_message.details["media"]`, so that a retry acts on them as they came;
acting on the message writes one `attachment` row per medium, joined to the ticket the rules of
`flows.attachments` choose. A redelivered message is not acted on again: its media are kept once.
The same content sent twice is one file (its SHA-256 names it).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select

from bot.transport import IncomingMessage, Media
from flows import attachments as rules
from flows import lifecycle, texts
from flows.config import GridConfig, MediaLimits
from flows.lifecycle import Actor, Outcome, Reply
from models.db import sqlite_file
from models.tables import ID_LENGTH, Attachment, InboundMessage, TicketEvent

log = logging.getLogger(__name__)

_ATTACHMENTS = Attachment.__table__
TOO_LARGE = "too_large"
NOT_SAVED = "not_saved"     # the folder refused the write (full disk, no permission)
_STORED_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}")
# Kinds of file told apart by their first bytes, for content sent without a MIME type.
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF8", "image/gif"), (b"#!AMR", "audio/amr"), (b"\x02#!SILK", "audio/silk"),
          (b"#!SILK", "audio/silk"), (b"ID3", "audio/mpeg"), (b"OggS", "audio/ogg"),
          (b"%PDF", "application/pdf"))


def media_folder(config: GridConfig, database_url: str) -> Path:
    """Where attachment files are kept: `media.folder` when set, else `attachments/` beside
    the SQLite database file (the working directory for another database)."""
    if config.media.folder:
        return Path(config.media.folder)
    database = sqlite_file(database_url)
    return (database.parent if database is not None else Path(".")) / "attachments"


class MediaStore:
    """Content-addressed files: `ab/abcdef…` (the SHA-256 in hex, its first two digits a
    folder) under `folder`, created on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, data: bytes) -> tuple[str, str]:
        """Keep `data`; returns (its path relative to the folder, its SHA-256 in hex). Content
        kept before is not written again. Raises OSError when the folder refuses the write."""
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{digest[:2]}/{digest}"
        target = self.folder / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written aside, then renamed: a reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        return relative, digest

    def file(self, relative: str) -> Path | None:
        """The file of a stored path, or None for anything that is not one (no way out of the
        folder) or is missing."""
        if not _STORED_NAME.fullmatch(relative):
            return None
        path = self.folder / relative
        return path if path.is_file() else None


def sniffed_mime(data: bytes | None, filename: str | None) -> str | None:
    """The MIME type of content sent without one: from its first bytes, else its file name."""
    if data:
        for magic, mime in _MAGIC:
            if data.startswith(magic):
                return mime
        if data[4:8] == b"ftyp":
            return "video/mp4"
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return "image/webp"
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            return "audio/wav"
    return mimetypes.guess_type(filename)[0] if filename else None


def keep(store: MediaStore, media: Media, limits: MediaLimits) -> dict[str, Any]:
    """Keep one medium as it arrived; returns its description for `inbound_message.details`:
    `kind`, and `path` + `sha256` (the content kept), or `media_id` (not downloaded), `size`
    in bytes, `mime`, `filename`, `refused` (`too_large`: over `limits`, nothing kept;
    `not_saved`: the folder refused it), and `duration_s` / `latitude`, `longitude`, `label`."""
    size = len(media.data) if media.data is not None else media.size
    kept: dict[str, Any] = {"kind": media.kind, "size": size,
                            "mime": (media.mime or sniffed_mime(media.data, media.filename)),
                            "filename": media.filename[:ID_LENGTH] if media.filename else None,
                            "media_id": media.media_id}
    for name in ("duration_s", "latitude", "longitude", "label"):
        if getattr(media, name) is not None:
            kept[name] = getattr(media, name)
    limit = limits.of(media.kind)
    if limit is not None and size is not None and size > limit:
        kept["refused"] = TOO_LARGE
    elif media.data is not None:
        try:
            kept["path"], kept["sha256"] = store.put(media.data)
        except OSError as error:
            log.error("a %s of %d bytes could not be written to %s (%s); its media id is kept",
                      media.kind, size, store.folder, error)
            kept["refused"] = NOT_SAVED
    return {key: value for key, value in kept.items() if value is not None}


def media_of(kept: Sequence[dict[str, Any]]) -> tuple[Media, ...]:
    """The message's media as kept (for a retry), without their content."""
    return tuple(Media(kind=item["kind"], media_id=item.get("media_id"),
                       filename=item.get("filename"), mime=item.get("mime"),
                       size=item.get("size"), duration_s=item.get("duration_s"),
                       latitude=item.get("latitude"), longitude=item.get("longitude"),
                       label=item.get("label")) for item in kept)


@dataclass(frozen=True)
class Attached:
    """What keeping a message's media asks of the dispatcher: the replies (a refusal of
    content too large), and the evidence events to record, per ticket (办结照片)."""

    replies: tuple[Reply, ...] = ()
    evidence: tuple[tuple[int, Outcome], ...] = ()


def attach(session: Session, config: GridConfig, message: IncomingMessage, acting: bool,
           actor_name: str) -> Attached:
    """Write the `attachment` rows of a stored message's media, each joined to the ticket the
    rules choose (`flows.attachments`): the ticket its own command acted on, else the sender's
    latest 下单 / 补充 / 办结 within its window. With `acting` False (the bot's own post, a group
    outside the network, a system notice) they are kept unattached and nothing is said."""
    kept = session.execute(select(InboundMessage.__table__.c.details).where(
        InboundMessage.__table__.c.message_id == message.id)).scalar_one_or_none() or {}
    kept = kept.get("media") or []
    if not kept:
        return Attached()
    events = TicketEvent.__table__.c
    kinds_of_purpose = tuple(rules.PURPOSE_OF_EVENT)
    own: list[rules.RecentAct] = []
    recent: list[rules.RecentAct] = []
    if acting:
        own = [rules.RecentAct(kind, ticket, at) for kind, ticket, at in session.execute(
            select(events.kind, events.ticket_id, events.at).where(
                events.source_message_id == message.id, events.actor_id == message.sender_id,
                events.kind.in_(kinds_of_purpose)).order_by(events.id))]
        if not own:
            window = max(config.media.attach_within, config.media.evidence_within)
            recent = [rules.RecentAct(kind, ticket, at) for kind, ticket, at in session.execute(
                select(events.kind, events.ticket_id, events.at).where(
                    events.actor_id == message.sender_id, events.kind.in_(kinds_of_purpose),
                    events.at >= message.at - window, events.at <= message.at)
                .order_by(events.at.desc(), events.id.desc()).limit(5))]
    rows, replies = [], []
    evidence: dict[int, list[str]] = {}
    for position, item in enumerate(kept):
        placement = rules.NOWHERE
        if acting and "refused" not in item:
            placement = (rules.place_in_message(item["kind"], own) if own else
                         rules.place_after(item["kind"], recent, message.at,
                                           config.media.attach_within,
                                           config.media.evidence_within))
        if placement.purpose == rules.EVIDENCE:
            evidence.setdefault(placement.ticket_id, []).append(item["kind"])
        details = {name: item[name] for name in ("duration_s", "latitude", "longitude", "label")
                   if name in item}
        rows.append({"ticket_id": placement.ticket_id, "message_id": message.id,
                     "position": position, "room": message.room, "sender_id": message.sender_id,
                     "kind": item["kind"], "purpose": placement.purpose,
                     "path": item.get("path"), "media_id": item.get("media_id"),
                     "mime": (item.get("mime") or "")[:100] or None,
                     "filename": item.get("filename"), "size": item.get("size"),
                     "sha256": item.get("sha256"), "details": details or None,
                     "refused": item.get("refused"), "at": message.at})
        if acting and item.get("refused") == TOO_LARGE and not replies:
            replies.append(too_large_reply(config, message, item))
    session.execute(insert(_ATTACHMENTS), rows)
    actor = Actor(message.sender_id, actor_name)
    return Attached(tuple(replies), tuple(
        (ticket_id, lifecycle.add_evidence(actor, rules.counted(kinds)))
        for ticket_id, kinds in evidence.items()))


def too_large_reply(config: GridConfig, message: IncomingMessage, item: dict[str, Any]) -> Reply:
    limit = config.media.max_bytes.of(item["kind"]) or 0
    return Reply(texts.MEDIA_TOO_LARGE.format(
        kind=texts.MEDIA_KIND_NAMES.get(item["kind"], item["kind"]),
        size=rules.size_text(item["size"]), limit=rules.size_text(limit)),
        mentions=(message.sender_id,))


def attachments_of(session: Session, ticket_id: int) -> list[Attachment]:
    """A ticket's attachments, kept ones only (not those refused), in the order they came."""
    return list(session.exec(sqlmodel_select(Attachment).where(
        Attachment.ticket_id == ticket_id, Attachment.refused.is_(None))
        .order_by(Attachment.at, Attachment.id)).all())
