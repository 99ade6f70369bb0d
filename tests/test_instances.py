"""Several bots on one PostgreSQL database (design §9): real processes scanning the same due
tickets at once post each escalation once, and two claims of one ticket at once have one winner."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import func, select

from bot.dispatch import Dispatcher
from bot.transport import IncomingMessage
from flows import texts
from models.db import Database
from models.tables import OutboundPost, Status, Ticket, TicketEscalation

from conftest import REPO

# PostgreSQL only: these are the guarantees several instances rely on.
pytestmark = pytest.mark.postgresql
on_postgresql = pytest.mark.parametrize("db", ["postgresql"], indirect=True)

DUE = 1000
INSTANCES = 3
GRID = "shibalong-1@chatroom"


def due_tickets(db: Database, count: int, now: datetime) -> None:
    """`count` urgent open tickets whose 10-minute claim timer ran out 20 minutes ago: one level
    each is due (urgent, so quiet hours do not hold them)."""
    created = now - timedelta(minutes=30)
    with db.session() as session:
        for number in range(count):
            session.add(Ticket(
                source_message_id=f"seed-{number}", group_room=GRID, node_id="shibalong-1",
                reporter_id="wxid_resident_zhang", reporter_name="张阿姨",
                text=f"4号楼{number}号门口电线冒火花", category="safety", urgent=True,
                status=Status.OPEN, created_at=created, clock_started_at=created,
                deadline_at=created + timedelta(minutes=10),
                escalation_due_at=created + timedelta(minutes=10)))


@on_postgresql
def test_three_processes_scanning_at_once_post_each_escalation_once(db):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    due_tickets(db, DUE, now)
    tick = json.dumps({"tick": now.isoformat()}) + "\n"
    # Each process scans twice (overlapping with the others and with itself) and prints what it sent.
    processes = [subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "chat", "--config", str(REPO / "config.yaml"),
         "--db", db.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=REPO) for _ in range(INSTANCES)]
    outputs = [process.communicate(tick + tick, timeout=300) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]

    sent = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    # A scan's escalations into one group are grouped posts (split to the transport's limits):
    # each ticket must be in them exactly once.
    posted = Counter(number for post in sent for number in re.findall(r"#(\d+)【", post["text"]))
    with db.session() as session:
        rows = session.exec(select(func.count()).select_from(TicketEscalation)).one()
        outbox = session.exec(select(func.count()).select_from(OutboundPost)).one()
        undelivered = session.exec(select(func.count()).select_from(OutboundPost).where(
            OutboundPost.delivered_at.is_(None))).one()
    duplicates = sum(posted.values()) - len(posted)
    print(f"\n{INSTANCES} processes, {DUE} due: {rows} escalations recorded, "
          f"{len(posted)} posted in {len(sent)} posts, {duplicates} duplicates, "
          f"per process {[sum(1 for line in out.splitlines()) for out, _ in outputs]}")
    assert rows == DUE and outbox == len(sent) and undelivered == 0
    assert len(posted) == DUE and duplicates == 0
    assert all(post["room"] == "baiyi-b1@chatroom" for post in sent)


@on_postgresql
def test_two_instances_claiming_one_ticket_at_once_have_one_winner(db, config, network):
    at = datetime.now(timezone.utc)
    with db.session() as session:
        session.add(Ticket(source_message_id="seed", group_room=GRID, node_id="shibalong-1",
                           reporter_id="wxid_resident_zhang", reporter_name="张阿姨",
                           text="4号楼灯不亮", category="repair", status=Status.OPEN,
                           created_at=at))
    claimers = {"wxid_qiu_huanwu": "邱煥武", "wxid_zhou_min": "周敏"}
    instances = [Dispatcher(config, Database(db.url, migrate=False), network) for _ in claimers]
    start = threading.Barrier(len(claimers))
    replies: dict[str, list] = {}

    def claim(dispatcher, member_id):
        start.wait()
        replies[member_id] = dispatcher.handle(IncomingMessage(
            id=f"claim-{member_id}", room=GRID, sender_id=member_id,
            sender_name=claimers[member_id], text="接单 #1", at=at))

    threads = [threading.Thread(target=claim, args=(d, m)) for d, m in zip(instances, claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.session() as session:
        ticket = session.get(Ticket, 1)
    winner = ticket.assignee_id
    loser = next(member for member in claimers if member != winner)
    assert ticket.status == Status.CLAIMED and winner in claimers
    assert [p.text for p in replies[winner]] == [
        texts.CLAIMED.format(number=1, handler=claimers[winner])]
    assert [p.text for p in replies[loser]] == [
        texts.ALREADY_CLAIMED.format(number=1, handler=claimers[winner])]
    for dispatcher in instances:
        dispatcher.db.dispose()
