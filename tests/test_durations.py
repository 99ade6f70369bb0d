"""Durations as written in config.yaml."""

from datetime import timedelta

import pytest

from flows.durations import format_duration, parse_duration


@pytest.mark.parametrize("text, expected", [
    ("10m", timedelta(minutes=10)), ("2h", timedelta(hours=2)), ("5d", timedelta(days=5)),
    ("1w", timedelta(weeks=1)), ("1h30m", timedelta(minutes=90)), (" 2H ", timedelta(hours=2)),
    ("1d 12h", timedelta(hours=36)), (90, timedelta(seconds=90)),
])
def test_durations_read(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3 days", "h", "10", "-5m", "0m", "1.5h", True, None])
def test_unreadable_durations_say_what_is_expected(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["10m", "1h30m", "5d", "1w2d", "45s"])
def test_format_is_the_inverse(text):
    assert format_duration(parse_duration(text)) == text
