"""`POST /webhook/messages`: messages from a bridge, signed with the shared secret.

The body is a `gridbot chat` message line (`id`, `room`, `sender`, `name`, `text`, `at`, and
`quoted` when the bridge knows what the message quotes, and `media`: photos, voice, files and
locations, each with its content as base64 `data`, or its `url` or `media_id` kept as the
reference, see `bot.chat_jsonl`), or a recall line `{"recall": "<message
id>", …}` when a member took a message back (撤回; its `id` may be left out). A bad or missing
signature is 401 and nothing is stored. A body over `api.max_request_bytes` is 413 as it streams
in, before the signature is checked (api/limits.py); `quoted` is kept cut to
`policy.max_message_length`. A message id seen before is accepted again with the same answer and
ignored.

A message from a room the network has no group for is kept (stored, as every message) but not
acted on: still 200, since the request is well-formed and sending it again changes nothing, but
the answer says so, `{"accepted": false, "id", "reason": "unknown_room", "detail": "room 'x' is
not in the network; ignored"}`, and a warning naming the room is logged (the words of `gridbot
chat`). A recall is acted on by the id of the message it takes back, whatever room it names.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError

from bot.chat_jsonl import ChatMessageLine, RecallLine, incoming, unknown_room
from bot.runtime import Bot
from bot.transports.webhook import SIGNATURE_HEADER, signature_is_valid


log = logging.getLogger(__name__)

UNKNOWN_ROOM = "unknown_room"


class Accepted(BaseModel):
    accepted: bool = Field(True, description="The message is stored (or was already) and acted on; "
                                             "false when it is kept but not acted on (see reason).")
    id: str = Field(description="The message id, as sent.")
    reason: str | None = Field(None, description="Only when not accepted: `unknown_room` (no group "
                                                 "of the network has that room).")
    detail: str | None = Field(None, description="Only when not accepted: the reason in words.")


def webhook_router(bot: Bot, secret: str, on_accepted: Callable[[], None]) -> APIRouter:
    """The inbound webhook; `on_accepted` wakes the delivery of the bot's answers."""
    router = APIRouter(tags=["webhook"])
    zone = ZoneInfo(bot.config.policy.timezone)

    @router.post("/webhook/messages", response_model=Accepted, response_model_exclude_none=True,
                 summary="A chat message from a bridge",
                 responses={401: {"description": "Bad or missing signature"},
                            422: {"description": "Not a message"}})
    async def receive(request: Request) -> Accepted:
        body = await request.body()
        if not signature_is_valid(secret, body, request.headers.get(SIGNATURE_HEADER)):
            raise HTTPException(401, f"bad or missing {SIGNATURE_HEADER} header")
        try:
            data = json.loads(body)
        except ValueError:
            raise HTTPException(422, "not valid JSON") from None
        try:
            if isinstance(data, dict) and "recall" in data:
                line = RecallLine.model_validate(data)
            else:
                line = ChatMessageLine.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise HTTPException(422, f"{where}: {first['msg']}" if where else first["msg"]) from None
        if isinstance(line, ChatMessageLine) and not line.id:
            raise HTTPException(422, "id: required, so that a redelivered message is recognised")
        if isinstance(line, ChatMessageLine) and any(item.path for item in line.media):
            # A bridge's path names a file on its machine, not here: content comes as data.
            raise HTTPException(422, "media.path: not taken by the webhook; send the content "
                                     "as base64 data, or its url or media_id")
        if isinstance(line, ChatMessageLine) and line.quoted is not None:
            # What a message quotes is kept no longer than a message may be (the text itself is
            # cut to the same length where it is acted on).
            line.quoted = line.quoted[:bot.config.policy.max_message_length]
        message = incoming(line, bot, zone)
        # The dispatcher does blocking database work: keep it off the event loop.
        await asyncio.to_thread(bot.dispatcher.handle, message)
        on_accepted()
        problem = unknown_room(bot.network, line.room) if isinstance(line, ChatMessageLine) else None
        if problem:
            log.warning("webhook message %s: %s", message.id, problem)
            return Accepted(accepted=False, id=message.id, reason=UNKNOWN_ROOM, detail=problem)
        return Accepted(id=message.id)

    return router
