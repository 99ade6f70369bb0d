"""The simulator transport: an in-process chat where scripted members talk in the configured
groups and every bot post is recorded. The demo and the tests use it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.transport import IncomingMessage, Media, OutgoingPost
from flows import texts
from flows.network import Network


@dataclass(frozen=True)
class TranscriptLine:
    room: str
    group_name: str
    speaker: str
    text: str
    mention_names: tuple[str, ...] = ()
    from_bot: bool = False

    def render(self) -> str:
        mentions = "".join(f"@{name} " for name in self.mention_names)
        body = (mentions + self.text).replace("\n", "\n    ")
        return f"[{self.group_name}] {self.speaker}：{body}"


class Simulator:
    """A Transport. `say` plays a member's message into the bot; `send` records the bot's posts."""

    def __init__(self, network: Network, on_line: Callable[[TranscriptLine], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.network = network
        self.on_line = on_line
        self.clock = clock
        self.transcript: list[TranscriptLine] = []
        self.posts: list[OutgoingPost] = []
        self.bot = None  # set by attach()
        self._names: dict[str, str] = {}  # residents seen so far; officials come from the network
        self._ids = (f"sim-{n}" for n in itertools.count(1))

    def attach(self, bot) -> None:
        self.bot = bot

    async def send(self, post: OutgoingPost) -> None:
        self.posts.append(post)
        if post.recipient:  # a private message: recorded as such, with no group
            where = texts.PRIVATE_CHAT.format(name=self.name_of(post.recipient))
            self._record(TranscriptLine("", where, texts.BOT_NAME, post.text, from_bot=True))
            return
        self._record(TranscriptLine(post.room, self._group_name(post.room), texts.BOT_NAME,
                                    post.text, tuple(self.name_of(m) for m in post.mentions),
                                    from_bot=True))

    async def say(self, room: str, sender_id: str, text: str, *, name: str | None = None,
                  at: datetime | None = None, quoted: str | None = None,
                  message_id: str | None = None,
                  media: tuple[Media, ...] = ()) -> list[OutgoingPost]:
        """A member posts `text` in `room` (with `media`: photos, voice… it carries); returns the
        bot posts delivered in answer."""
        if self.bot is None:
            raise RuntimeError("attach a Bot to the simulator before members talk")
        name = name or self.name_of(sender_id)
        self._names.setdefault(sender_id, name)
        shown = " ".join([text, *(f"[{texts.MEDIA_KIND_NAMES.get(m.kind, m.kind)}]" for m in media)])
        self._record(TranscriptLine(room, self._group_name(room), name, shown.strip()))
        before = len(self.posts)
        await self.bot.receive(IncomingMessage(
            id=message_id or next(self._ids), room=room, sender_id=sender_id, sender_name=name,
            text=text, at=at or self.clock(), quoted=quoted, media=tuple(media)))
        return self.posts[before:]

    def name_of(self, member_id: str) -> str:
        return self.network.member_name(member_id) or self._names.get(member_id, member_id)

    def _group_name(self, room: str) -> str:
        node = self.network.node_for_room(room)
        return node.group.name if node else room

    def _record(self, line: TranscriptLine) -> None:
        self.transcript.append(line)
        if self.on_line:
            self.on_line(line)
