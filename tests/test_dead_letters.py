"""Dead letters of the outbox (issue 19, item 8): one post the chat service refuses for good (a
callback answering 413), or that fails too often, is set aside and its room goes on, every other
room too; the operator sees it in `/readyz` and `gridbot outbox dead` and sends it again with
`gridbot outbox retry ID`."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi import FastAPI, Request, Response
from typer.testing import CliRunner

import bot.outbox as outbox
from bot.cli import app as cli
from bot.outbox import dead_letters, deliver_pending, pending_count
from bot.transport import OutgoingPost
from bot.transports.webhook import SIGNATURE_HEADER, CallbackRefused, sign

from local_server import ServedApp
from test_pacing import OTHER, Recorder, sent_in, write
from test_webhook import SECRET, api, wait_for  # noqa: F401 (api: the fixture)

GRID = "shibalong-1@chatroom"


class Refusing(Recorder):
    """Refuses for good every post whose text has `poison` in it."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = poison

    async def send(self, post: OutgoingPost) -> None:
        if self.poison and self.poison in post.text:
            raise CallbackRefused(f"callback answered 413 to post {post.id}", 413)
        await super().send(post)


async def test_a_post_refused_for_good_is_set_aside_and_every_room_goes_on(db, config, network,
                                                                          clock):
    # Refused posts in four rooms came first: before, the run gave up after three failed rooms.
    rooms = [GRID, OTHER, "shibalong-2@chatroom", "shibalong-3@chatroom"]
    for room in rooms:
        write(db, config, network, room, 1, f"poison {room} ")
    for room in rooms:
        write(db, config, network, room, 2, f"fine {room} ")
    transport = Refusing("poison")
    assert await deliver_pending(db, transport, clock, 20) == 8
    for room in rooms:
        assert sent_in(transport, room) == [f"fine {room} 0", f"fine {room} 1"]
    assert pending_count(db) == 0
    letters = dead_letters(db)
    assert [letter.id for letter in letters] == [1, 2, 3, 4]
    assert "413" in letters[0].reason and letters[0].destination == GRID
    assert await deliver_pending(db, transport, clock, 20) == 0   # never tried again by itself

    transport.poison = ""            # the operator fixed what made the callback refuse it
    assert outbox.retry_dead(db, 1) and not outbox.retry_dead(db, 1)
    assert await deliver_pending(db, transport, clock, 20) == 1
    assert sent_in(transport, GRID)[-1] == f"poison {GRID} 0"
    assert [letter.id for letter in dead_letters(db)] == [2, 3, 4]


async def test_a_post_that_keeps_failing_is_set_aside_after_many_tries_over_an_hour(
        db, config, network, clock):
    write(db, config, network, GRID, 2, "grid ")
    transport = Recorder(failing={GRID})
    # A chat service down for a while: many tries within the hour lose nothing.
    for _ in range(outbox.MAX_POST_FAILURES * 3):
        assert await deliver_pending(db, transport, clock, 20) == 0
        clock.advance(minutes=1)
    assert dead_letters(db) == [] and pending_count(db) == 2
    clock.advance(minutes=30)    # written over an hour ago and still failing: set aside
    await deliver_pending(db, transport, clock, 20)
    [letter] = dead_letters(db)
    assert letter.id == 1 and letter.failures == outbox.MAX_POST_FAILURES * 3 + 1
    assert "ConnectionError" in letter.reason


async def test_the_wait_before_a_dead_letter_is_the_configs(db, config, network, clock):
    write(db, config, network, GRID, 1, "grid ")
    transport = Recorder(failing={GRID})
    for _ in range(outbox.MAX_POST_FAILURES):
        await deliver_pending(db, transport, clock, 20, dead_after=timedelta(minutes=5))
        clock.advance(minutes=1)
    assert [letter.id for letter in dead_letters(db)] == [1]


def test_which_callback_answers_refuse_a_post_for_good():
    assert {status: CallbackRefused("", status).refused_for_good
            for status in (400, 404, 408, 413, 422, 429, 500, 502, 503)} == {
        400: True, 404: True, 408: False, 413: True, 422: True, 429: False,
        500: False, 502: False, 503: False}


async def test_through_the_webhook_a_413_is_a_dead_letter_seen_in_readyz_and_the_cli(api, db):
    received = []
    callback = FastAPI()

    @callback.post("/callback")
    async def answer(request: Request) -> Response:
        post = json.loads(await request.body())
        if "电梯" in post["text"]:
            return Response(status_code=413)
        received.append(post)
        return Response(status_code=204)

    served = ServedApp(callback)
    with served:
        client, _ = await api(f"{served.base_url}/callback")
        for n, (room, text) in enumerate([(GRID, "下单 3栋电梯坏了"),
                                          (GRID, "下单 4号楼二单元4楼的灯不亮"),
                                          (OTHER, "下单 1栋楼道垃圾没人清")]):
            body = json.dumps({"id": f"d{n}", "room": room, "sender": f"wxid_d{n}",
                               "text": text, "at": "2026-11-24T09:00:00+08:00"},
                              ensure_ascii=False).encode()
            response = await client.post("/webhook/messages", content=body,
                                         headers={SIGNATURE_HEADER: sign(SECRET, body)})
            assert response.status_code == 200
        await wait_for(lambda: {"d1", "d2"} <= {post["reply_to"] for post in received})
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["dead_letters"] >= 1
    assert all("电梯" not in post["text"] for post in received)
    [letter, *_] = dead_letters(db)

    runner = CliRunner()
    shown = runner.invoke(cli, ["outbox", "dead", "--db", db.url])
    assert shown.exit_code == 0 and str(letter.id) in shown.output and "413" in shown.output
    again = runner.invoke(cli, ["outbox", "retry", str(letter.id), "--db", db.url])
    assert again.exit_code == 0 and letter.id not in [d.id for d in dead_letters(db)]
    assert pending_count(db) >= 1
    missing = runner.invoke(cli, ["outbox", "retry", "999999", "--db", db.url])
    assert missing.exit_code == 2

