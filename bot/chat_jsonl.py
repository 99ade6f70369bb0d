"""`gridbot chat`: the JSON Lines scripting contract (other tools rely on it exactly).

In, one object per line: a message `{"id", "room", "sender", "name", "text", "at"}` (`id`, `name`
and `at` optional; also optional `quoted`, the text it quotes, and `mentions`, the member ids its
@-mentions name), a recall `{"recall": "<message id>"}` (the sender took that message back;
`id`, `room`, `sender`, `name`, `at` optional) or `{"tick": "<ISO time>"}`. A message may carry
`media`, a list of photos, voice notes, videos, files and locations (`text` may then be left
out): each `{"kind": "image"|"voice"|"video"|"file"|"location"}` with its content as `path` (a
file to read, `gridbot chat` only) or `data` (base64), or else `media_id` (the platform's id,
kept as it is), and optional `filename`, `mime`, `size` (bytes), `duration_s`, and `latitude`,
`longitude`, `label` for a location. The output lines keep their shape whatever came in. A message whose
`sender` is the bot's own id (`transport.bot_id`) is kept and never acted on. Out, one line per bot post:
`{"room", "text", "mentions", "reply_to"}`; a private message (a digest to a head) has room null
and its recipient as the one mention. A malformed line is reported on stderr with its line
number and the rest goes on.

The chat runs on the script's time: the bot's clock moves to each line's `at` (or `tick`) and
never back, so pacing (`transport.posts_per_room_per_minute`) counts the script's minutes. Posts
held back by pacing when the input ends go out as their turn comes, the clock moving on to it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TextIO

import base64
import binascii
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from bot.pacing import next_turn
from bot.runtime import Bot
from bot.transport import IncomingMessage, Media, OutgoingPost
from flows.network import Network

MAX_DRAIN_STEPS = 100_000  # turns waited for at the end of the input, at most
# A time from this year on is nobody's script time (and the timers would run past the calendar):
# a message so dated is received at the script's time so far, a tick so dated is a bad line.
LAST_YEAR = 9000


def not_blank(value: str) -> str:
    """A field a line must fill with more than spaces; ValueError otherwise."""
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def keepable_time(value: datetime | None) -> datetime | None:
    """A time a line gives, refused (ValueError) when it cannot be kept in UTC: `0001-01-01` read
    in the deployment's zone, or `9999-12-31T23:00-08:00`, fall outside the calendar there."""
    if value is None:
        return None
    offsets = [value.tzinfo] if value.tzinfo is not None else [
        timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]  # any zone it may be read in
    try:
        for offset in offsets:
            value.replace(tzinfo=offset).astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("a time out of range") from None
    return value


class MediaLine(BaseModel):
    """One medium of a message line (`media`): see the module."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["image", "voice", "video", "file", "location"]
    path: str | None = None       # a file to read (gridbot chat only)
    data: str | None = None       # the content, base64
    url: str | None = None        # where the content is: kept as the reference, not fetched
    media_id: str | None = None   # the platform's id, when the content is not given
    filename: str | None = None
    mime: str | None = None
    size: Annotated[int, Field(ge=0)] | None = None
    duration_s: Annotated[int, Field(ge=0)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    label: str | None = None

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("not base64") from None
        return value

    def content(self, local_files: bool) -> bytes | None:
        """The content given in the line: `data` decoded, or (with `local_files`) the file at
        `path` read. Raises MediaUnreadable naming the key."""
        if self.data is not None:
            return base64.b64decode(self.data)
        if self.path is not None:
            if not local_files:
                raise MediaUnreadable("path: not taken here; send the content as base64 data")
            try:
                return Path(self.path).read_bytes()
            except OSError as error:
                raise MediaUnreadable(f"path: cannot read {self.path} "
                                      f"({error.strerror or type(error).__name__})") from None
        return None

    def as_media(self, local_files: bool) -> Media:
        """The transport interface's Media (see `content`)."""
        content = self.content(local_files)
        return Media(kind=self.kind, media_id=self.media_id or self.url, data=content,
                     filename=self.filename or (Path(self.path).name if self.path else None),
                     mime=self.mime, size=len(content) if content is not None else self.size,
                     duration_s=self.duration_s, latitude=self.latitude,
                     longitude=self.longitude, label=self.label)


class MediaUnreadable(ValueError):
    """A medium's content could not be had (a file that cannot be read, a path where only
    data is taken); the message names the key."""


class ChatMessageLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    room: str
    sender: str
    name: str | None = None
    text: str
    at: datetime | None = None
    quoted: str | None = None   # the text of the message this one quotes, when the bridge has it
    mentions: list[str] = []    # member ids of its @-mentions, when the bridge knows them
    media: list[MediaLine] = []  # photos, voice, files, locations it carries

    _not_blank = field_validator("room", "sender")(not_blank)

    @model_validator(mode="before")
    @classmethod
    def _media_without_text(cls, data: object) -> object:
        # A photo alone has no words: `text` may be left out when `media` is given.
        if isinstance(data, dict) and "text" not in data and data.get("media"):
            return {**data, "text": ""}
        return data

    _at_in_range = field_validator("at")(keepable_time)


class RecallLine(BaseModel):
    """`{"recall": "<message id>"}`: the message's sender took it back (撤回)."""

    model_config = ConfigDict(extra="ignore")

    recall: str
    id: str | None = None
    room: str | None = None
    sender: str | None = None
    name: str | None = None
    at: datetime | None = None

    _not_blank = field_validator("recall")(not_blank)

    _at_in_range = field_validator("at")(keepable_time)


class TickLine(BaseModel):
    tick: datetime

    _tick_in_range = field_validator("tick")(keepable_time)


class JsonLinesOutput:
    """A Transport that writes each bot post as one JSON line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    async def send(self, post: OutgoingPost) -> None:
        # A private message (a digest to a head) keeps the same four keys: no room, and the
        # member it goes to as its one mention.
        mentions = [post.recipient] if post.recipient else list(post.mentions)
        self.out.write(json.dumps({"room": post.room, "text": post.text,
                                   "mentions": mentions, "reply_to": post.reply_to},
                                  ensure_ascii=False) + "\n")
        self.out.flush()


class ScriptClock:
    """The time of the script: where its lines say, from its first time on, never going back
    (before the first, the time it started at)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.started = False

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, when: datetime) -> None:
        if when > self.now or not self.started:
            self.now = when
        self.started = True


def run_on_script_time(bot: Bot) -> ScriptClock:
    """Set the bot (and its dispatcher) on a ScriptClock starting at the bot's present time."""
    clock = ScriptClock(bot.clock())
    bot.clock = bot.dispatcher.clock = clock
    return clock


async def drain(bot: Bot, clock: ScriptClock) -> None:
    """Deliver what pacing still holds, moving the clock to each next turn."""
    per_minute = bot.config.transport.posts_per_room_per_minute
    for _ in range(MAX_DRAIN_STEPS):
        turn = next_turn(bot.db, per_minute, clock())
        if turn is None:
            return
        clock.move_to(turn)
        if await bot.deliver() == 0 and turn <= clock():
            return  # nothing could go (a failing transport): it stays in the outbox


def _aware(value: datetime, zone: tzinfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


async def play(bot: Bot, lines: Iterable[str], err: TextIO, zone: tzinfo) -> int:
    """Feed each input line to the bot, on the script's time; return the number of malformed
    lines. Posts pacing holds at the end go out as their turn comes (see the module)."""
    clock = run_on_script_time(bot)
    await bot.deliver()  # posts left undelivered by an earlier run go first
    bad = 0
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            raw = raw.removeprefix("\ufeff")   # a byte order mark, as Windows editors save
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            bad += 1
            err.write(f"line {number}: not valid JSON ({exc.msg})\n")
            continue
        try:
            if isinstance(data, dict) and "tick" in data:
                tick = _aware(TickLine.model_validate(data).tick, zone)
                if tick.year >= LAST_YEAR:
                    bad += 1
                    err.write(f"line {number}: tick: the year {tick.year} is too far ahead\n")
                    continue
                clock.move_to(tick)
                await bot.tick(tick)
                continue
            if isinstance(data, dict) and "recall" in data:
                line = RecallLine.model_validate(data)
            else:
                line = ChatMessageLine.model_validate(data)
        except ValidationError as exc:
            bad += 1
            err.write(f"line {number}: {_problem(exc)}\n")
            continue
        if problem := unknown_room(bot.network, line.room):
            err.write(f"line {number}: {problem}\n")
        try:
            message = incoming(line, bot, zone, local_files=True)
        except MediaUnreadable as exc:
            bad += 1
            err.write(f"line {number}: media: {exc}\n")
            continue
        try:
            if message.at.year < LAST_YEAR:
                clock.move_to(message.at)
            await bot.receive(message)
        except Exception as exc:  # noqa: BLE001 - one line never ends the chat
            bad += 1
            err.write(f"line {number}: could not be handled ({type(exc).__name__}); "
                      "the rest goes on\n")
    await drain(bot, clock)
    return bad


def unknown_room(network: Network, room: str | None) -> str | None:
    """The warning for a message from `room` when the network has no group there (the message
    is kept, never acted on), e.g. "room 'x@chatroom' is not in the network; ignored"; None for
    a room of the network or no room at all. `gridbot chat` and the webhook say it alike."""
    if room and network.node_for_room(room) is None:
        return f"room {room!r} is not in the network; ignored"
    return None


def incoming(line: ChatMessageLine | RecallLine, bot: Bot, zone: tzinfo, *,
             local_files: bool = False) -> IncomingMessage:
    """A message or recall line (of `gridbot chat` or the webhook) as the transport interface's
    message. A recall without an id gets one of its own (`recall:<message id>`), so that one
    handed over twice is acted on once. Media content comes from `data`, or from `path` with
    `local_files` (gridbot chat); a `url` or `media_id` is kept as the reference. Raises
    MediaUnreadable when a file cannot be read."""
    if isinstance(line, RecallLine):
        sender = line.sender or ""
        return IncomingMessage(
            id=line.id or f"recall:{line.recall}", room=line.room or "", sender_id=sender,
            sender_name=line.name or bot.network.member_name(sender) or sender, text="",
            at=_aware(line.at, zone) if line.at else bot.clock(), recalled_id=line.recall,
            from_bot=bool(sender) and sender == bot.config.transport.bot_id)
    return IncomingMessage(
        id=line.id or f"chat-{uuid.uuid4()}", room=line.room, sender_id=line.sender,
        sender_name=line.name or bot.network.member_name(line.sender) or line.sender,
        text=line.text, at=_aware(line.at, zone) if line.at else bot.clock(), quoted=line.quoted,
        mention_ids=tuple(line.mentions), from_bot=line.sender == bot.config.transport.bot_id,
        media=tuple(item.as_media(local_files) for item in line.media),
    )

