"""flows/attachments.py: which ticket a medium joins, as the pure rules say (time passed in)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flows.attachments import (DETAIL, EVIDENCE, NOWHERE, REQUEST, Placement, RecentAct,
                               attachment_line, counted, place_after, place_in_message,
                               size_text)

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
TEN, THIRTY = timedelta(minutes=10), timedelta(minutes=30)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_photo_or_voice_within_the_window_after_an_order_joins_it():
    acts = [RecentAct("created", 4, at(0))]
    assert place_after("image", acts, at(9), TEN, THIRTY) == Placement(4, REQUEST)
    assert place_after("voice", acts, at(10), TEN, THIRTY) == Placement(4, REQUEST)
    assert place_after("image", acts, at(10.5), TEN, THIRTY) == NOWHERE   # window over
    assert place_after("file", acts, at(1), TEN, THIRTY) == NOWHERE       # a file: kept apart


def test_only_the_latest_act_counts():
    acts = [RecentAct("created", 4, at(0)), RecentAct("resolved", 3, at(2))]
    # after the handler's 办结, a voice note is no evidence, nor is it taken for the 下单
    assert place_after("voice", acts, at(3), TEN, THIRTY) == NOWHERE
    assert place_after("image", acts, at(25), TEN, THIRTY) == Placement(3, EVIDENCE)
    assert place_after("image", acts, at(33), TEN, THIRTY) == NOWHERE
    detail = [*acts, RecentAct("detail", 4, at(5))]
    assert place_after("image", detail, at(6), TEN, THIRTY) == Placement(4, DETAIL)
    # an act after the medium (a clock gone wrong) does not count
    assert place_after("image", [RecentAct("created", 9, at(7))], at(6), TEN, THIRTY) == NOWHERE


def test_media_of_a_commands_own_message_join_what_it_acted_on():
    claimed_then_resolved = [RecentAct("claimed", 5, at(0)), RecentAct("resolved", 5, at(0))]
    assert place_in_message("image", claimed_then_resolved) == Placement(5, EVIDENCE)
    assert place_in_message("file", [RecentAct("created", 6, at(0))]) == Placement(6, REQUEST)
    assert place_in_message("image", [RecentAct("claimed", 5, at(0))]) == NOWHERE


def test_counts_and_sizes_as_chat_shows_them():
    assert counted(["voice", "image", "image", "location"]) == "照片2 语音1 位置1"
    assert size_text(850_000) == "850KB" and size_text(1_234_567) == "1.2MB"
    assert size_text(10_000_000) == "10MB" and size_text(12) == "1KB"
    assert attachment_line([("image", 600_000), ("voice", 600_000)]) == "附件：照片1 语音1（共1.2MB）"
    assert attachment_line([("location", None)]) == "附件：位置1"
    assert attachment_line([]) is None
