"""A fake wechaty puppet-service gateway for the tests: just enough of `/wechaty.Puppet/*` over
plaintext gRPC on 127.0.0.1 for the real `wechaty` client to log in, read room messages and send
text. Run it as a subprocess so a test can kill it and start it again:

    python tests/fake_puppet.py --port 18801 --control ctl.jsonl --capture sent.jsonl

The control file (JSON Lines, appended by the test, polled here) describes the world and plays
messages into it:

    {"op": "contact", "id": "wxid_zhang", "name": "张阿姨", "alias": ""}
    {"op": "room", "id": "r1@chatroom", "topic": "…", "members": ["wxid_zhang"],
     "aliases": {"wxid_zhang": "4栋张阿姨"}}
    {"op": "message", "id": "m1", "room": "r1@chatroom", "talker": "wxid_zhang", "text": "下单 …",
     "timestamp": 1795000000, "type": 7}

Lines already in the file when the server starts set up its state (a message there can be
fetched, but is not announced again); each line appended later is applied, and a `message`
line is announced as a MESSAGE event to every open event stream, as a gateway announces what
WeChat pushes. `type` uses the gateway's numbering (Text = 7).

A media message carries `"file": {"base64": "…", "name": "a.jpg"}` (or `{"url", "name"}`),
served by MessageImage (a photo) and MessageFile (voice, video, attachment) as a FileBox.

Every MessageSendText is appended to the capture file as one JSON line:
`{"id", "conversation_id", "text", "mention_ids"}`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server
from wechaty_grpc.wechaty import puppet as pb

TEXT = 7  # the gateway's (TypeScript) MessageType.Text; the client maps it to its own enum


class FakePuppet:
    def __init__(self, self_id: str, self_name: str, capture: Path, heartbeat: float) -> None:
        self.self_id = self_id
        self.capture = capture
        self.heartbeat = heartbeat
        self.contacts: dict[str, dict] = {self_id: {"id": self_id, "name": self_name}}
        self.rooms: dict[str, dict] = {}
        self.messages: dict[str, dict] = {}
        self.streams: set[asyncio.Queue] = set()
        self._sent_ids = (f"sent-{time.time_ns()}-{n}" for n in itertools.count(1))

    # -- the world, from the control file ----------------------------------------------------
    def apply(self, line: dict, live: bool) -> None:
        op = line.pop("op")
        if op == "contact":
            self.contacts[line["id"]] = line
        elif op == "room":
            self.rooms[line["id"]] = line
        elif op == "message":
            self.messages[line["id"]] = line
            if live:
                self.broadcast(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": line["id"]})
        else:
            raise ValueError(f"unknown op {op!r}")

    def broadcast(self, kind: pb.EventType, payload: dict, to: set[asyncio.Queue] | None = None) -> None:
        event = pb.EventResponse(type=kind, payload=json.dumps(payload, ensure_ascii=False))
        for queue in self.streams if to is None else to:
            queue.put_nowait(event)

    # -- the gRPC methods ----------------------------------------------------------------------
    def __mapping__(self) -> dict[str, Handler]:
        unary = {
            "Start": (self.start, pb.StartRequest, pb.StartResponse),
            "Stop": (self.stop, pb.StopRequest, pb.StopResponse),
            "Ding": (self.ding, pb.DingRequest, pb.DingResponse),
            "ContactPayload": (self.contact_payload, pb.ContactPayloadRequest, pb.ContactPayloadResponse),
            "ContactList": (self.contact_list, pb.ContactListRequest, pb.ContactListResponse),
            "RoomPayload": (self.room_payload, pb.RoomPayloadRequest, pb.RoomPayloadResponse),
            "RoomList": (self.room_list, pb.RoomListRequest, pb.RoomListResponse),
            "RoomMemberList": (self.room_member_list, pb.RoomMemberListRequest, pb.RoomMemberListResponse),
            "RoomMemberPayload": (self.room_member_payload, pb.RoomMemberPayloadRequest,
                                  pb.RoomMemberPayloadResponse),
            "MessagePayload": (self.message_payload, pb.MessagePayloadRequest, pb.MessagePayloadResponse),
            "MessageSendText": (self.message_send_text, pb.MessageSendTextRequest, pb.MessageSendTextResponse),
            "MessageImage": (self.message_image, pb.MessageImageRequest, pb.MessageImageResponse),
            "MessageFile": (self.message_file, pb.MessageFileRequest, pb.MessageFileResponse),
        }
        mapping = {f"/wechaty.Puppet/{name}": Handler(self._unary(method, reply), Cardinality.UNARY_UNARY,
                                                      request, reply)
                   for name, (method, request, reply) in unary.items()}
        mapping["/wechaty.Puppet/Event"] = Handler(self.event, Cardinality.UNARY_STREAM,
                                                   pb.EventRequest, pb.EventResponse)
        return mapping

    @staticmethod
    def _unary(method, reply_type):
        async def handle(stream) -> None:
            request = await stream.recv_message()
            await stream.send_message(method(request) or reply_type())
        return handle

    async def event(self, stream) -> None:
        """The event stream: the account is logged in and ready at once, then whatever the
        control file announces, and a heartbeat after each quiet `heartbeat` seconds."""
        await stream.recv_message()
        queue: asyncio.Queue = asyncio.Queue()
        self.streams.add(queue)
        try:
            self.broadcast(pb.EventType.EVENT_TYPE_LOGIN, {"contactId": self.self_id}, to={queue})
            self.broadcast(pb.EventType.EVENT_TYPE_READY, {"data": "ready"}, to={queue})
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self.heartbeat)
                except asyncio.TimeoutError:
                    event = pb.EventResponse(type=pb.EventType.EVENT_TYPE_HEARTBEAT,
                                             payload=json.dumps({"data": "heartbeat"}))
                await stream.send_message(event)
        finally:
            self.streams.discard(queue)

    def start(self, request) -> None:
        return None

    def stop(self, request) -> None:
        return None

    def ding(self, request: pb.DingRequest) -> None:
        self.broadcast(pb.EventType.EVENT_TYPE_DONG, {"data": request.data})

    def contact_payload(self, request: pb.ContactPayloadRequest) -> pb.ContactPayloadResponse:
        contact = self.contacts.get(request.id, {"name": request.id})  # a stranger: named by id
        return pb.ContactPayloadResponse(id=request.id, name=contact["name"], alias=contact.get("alias", ""),
                                         type=pb.ContactType.CONTACT_TYPE_PERSONAL)

    def contact_list(self, request) -> pb.ContactListResponse:
        return pb.ContactListResponse(ids=list(self.contacts))

    def _room(self, room_id: str) -> dict:
        if room_id not in self.rooms:
            raise GRPCError(Status.NOT_FOUND, f"no room {room_id}")
        return self.rooms[room_id]

    def room_payload(self, request: pb.RoomPayloadRequest) -> pb.RoomPayloadResponse:
        room = self._room(request.id)
        return pb.RoomPayloadResponse(id=request.id, topic=room.get("topic", ""),
                                      member_ids=[self.self_id, *room.get("members", [])])

    def room_list(self, request) -> pb.RoomListResponse:
        return pb.RoomListResponse(ids=list(self.rooms))

    def room_member_list(self, request: pb.RoomMemberListRequest) -> pb.RoomMemberListResponse:
        return pb.RoomMemberListResponse(member_ids=[self.self_id, *self._room(request.id).get("members", [])])

    def room_member_payload(self, request: pb.RoomMemberPayloadRequest) -> pb.RoomMemberPayloadResponse:
        room = self._room(request.id)
        contact = self.contacts.get(request.member_id, {"name": request.member_id})
        return pb.RoomMemberPayloadResponse(id=request.member_id, name=contact["name"],
                                            room_alias=room.get("aliases", {}).get(request.member_id, ""))

    def message_payload(self, request: pb.MessagePayloadRequest) -> pb.MessagePayloadResponse:
        if request.id not in self.messages:
            raise GRPCError(Status.NOT_FOUND, f"no message {request.id}")
        message = self.messages[request.id]
        return pb.MessagePayloadResponse(
            id=request.id, text=message.get("text", ""), type=message.get("type", TEXT),
            timestamp=int(message.get("timestamp", time.time())), from_id=message.get("talker", ""),
            room_id=message.get("room", ""), to_id=message.get("to", ""),
            mention_ids=message.get("mentions", []))

    def _file_box(self, message_id: str) -> str:
        """The FileBox JSON of a message's `file` (`{"base64", "name"}` or `{"url", "name"}`),
        as a gateway serialises it (boxType 1: Base64, 2: Url)."""
        file = self.messages.get(message_id, {}).get("file")
        if file is None:
            raise GRPCError(Status.NOT_FOUND, f"no file in message {message_id}")
        if "url" in file:
            return json.dumps({"boxType": 2, "remoteUrl": file["url"], "name": file.get("name", "")})
        return json.dumps({"boxType": 1, "base64": file["base64"], "name": file.get("name", "")})

    def message_image(self, request: pb.MessageImageRequest) -> pb.MessageImageResponse:
        return pb.MessageImageResponse(filebox=self._file_box(request.id))

    def message_file(self, request: pb.MessageFileRequest) -> pb.MessageFileResponse:
        return pb.MessageFileResponse(filebox=self._file_box(request.id))

    def message_send_text(self, request: pb.MessageSendTextRequest) -> pb.MessageSendTextResponse:
        message_id = next(self._sent_ids)
        sent = {"id": message_id, "conversation_id": request.conversation_id, "text": request.text,
                "mention_ids": list(request.mentonal_ids)}  # sic: the proto's field name
        with self.capture.open("a", encoding="utf-8") as capture:
            capture.write(json.dumps(sent, ensure_ascii=False) + "\n")
        in_room = request.conversation_id in self.rooms
        self.messages[message_id] = {"text": request.text, "talker": self.self_id,
                                     "room": request.conversation_id if in_room else "",
                                     "to": "" if in_room else request.conversation_id,
                                     "mentions": list(request.mentonal_ids)}
        return pb.MessageSendTextResponse(id=message_id)


async def follow(control: Path, puppet: FakePuppet, every: float = 0.02) -> None:
    """Apply the control file: what is there now as state, each complete line added later live."""
    offset = 0
    live = False
    while True:
        if control.exists():
            with control.open("rb") as lines:
                lines.seek(offset)
                for raw in lines:
                    if not raw.endswith(b"\n"):
                        break  # the test is still writing this line
                    offset += len(raw)
                    if raw.strip():
                        puppet.apply(json.loads(raw), live)
        live = True
        await asyncio.sleep(every)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=Path, required=True, help="JSON Lines the test appends")
    parser.add_argument("--capture", type=Path, required=True, help="JSON Lines of every MessageSendText")
    parser.add_argument("--self-id", default="wxid_gridbot")
    parser.add_argument("--self-name", default="网格小助手")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds of quiet before a heartbeat")
    args = parser.parse_args()
    puppet = FakePuppet(args.self_id, args.self_name, args.capture, args.heartbeat)
    server = Server([puppet])
    await server.start("127.0.0.1", args.port)
    print(f"fake puppet listening on 127.0.0.1:{args.port}", flush=True)
    await follow(args.control, puppet)


if __name__ == "__main__":
    asyncio.run(main())
