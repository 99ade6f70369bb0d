"""The transport interface: what every chat adapter (simulator, wechaty, webhook, WeCom,
DingTalk) hands the bot, and what the bot hands back. The flows never see a chat service, only these two shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Media:
    """A photo, voice note, video, file or location carried by a message, as its transport read
    it: the content itself when the transport downloaded it, else the platform's media id."""

    kind: str                    # "image", "voice", "video", "file" or "location"
    media_id: str | None = None  # the platform's id for the content, when it keeps it
    data: bytes | None = field(default=None, repr=False)  # the content, when downloaded
    filename: str | None = None
    mime: str | None = None
    size: int | None = None      # bytes, as the platform states it (before downloading)
    duration_s: int | None = None  # voice and video, seconds
    latitude: float | None = None  # location only (WGS-84 or the platform's GCJ-02, as sent)
    longitude: float | None = None
    label: str | None = None     # location only: the place's name or address as sent


@dataclass(frozen=True)
class IncomingMessage:
    id: str                      # the transport's message id; a redelivered message has the same one
    room: str                    # chat room (group) id
    sender_id: str
    sender_name: str
    text: str
    at: datetime                 # aware; when the member sent it
    quoted: str | None = None    # the text of a message this one replies to, when it quotes one
    # Member ids of the message's @-mentions, in order, when the chat service says whom an @ names
    # (WeChat's gateways and WeCom do, whatever nickname the name shows).
    mention_ids: tuple[str, ...] = ()
    # A recall (撤回): the id of the message its sender took back. Such a message has no text
    # of its own; what it means for a request is the dispatcher's to say.
    recalled_id: str | None = None
    # Posted by the bot itself (the transport knows its own member id): kept, never acted on.
    from_bot: bool = False
    # A notice of the chat service (a pat 拍了拍, someone joining), not a member's words: kept,
    # never acted on.
    system: bool = False
    # Photos, voice, files and locations the message carries (its `text` may then be empty).
    media: tuple[Media, ...] = ()
    # Sent to the bot in a 1:1 chat (WeCom's and DingTalk's robots get photos there, as a group
    # shows them only what @-mentions them): no group's command, but its media join the
    # sender's own ticket as in a group (flows/attachments.py).
    private: bool = False


@dataclass(frozen=True)
class OutgoingPost:
    room: str | None             # None for a private message
    text: str
    mentions: tuple[str, ...] = ()
    reply_to: str | None = None  # the id of the message that caused this post
    recipient: str | None = None  # a private message's member id (digests to a head)
    id: int | None = field(default=None, compare=False)  # the outbox row, once stored


class Transport(Protocol):
    async def send(self, post: OutgoingPost) -> None:
        """Deliver one post; raise when it could not be delivered (it stays in the outbox)."""
        ...
