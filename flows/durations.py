"""Durations as operators write them in config.yaml: `10m`, `2h`, `5d`, `1w`, `1h30m`.

Policy timers (rating window, claim/resolve deadlines) are written this way; a value that does not
read is refused at start with the accepted forms named.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"(?:\d+\s*[smhdw]\s*)+")


def parse_duration(text: str | int | timedelta) -> timedelta:
    """`"1h30m"` → 90 minutes. A bare integer is seconds (YAML reads `60` as a number)."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int) and not isinstance(text, bool):
        return timedelta(seconds=text)
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as 10m, 2h, 5d or 1w, got {text!r}")
    compact = text.strip().lower()
    if not compact or not _WHOLE.fullmatch(compact):
        raise ValueError(f"expected a duration such as 10m, 2h, 5d or 1w, got {text!r}")
    duration = timedelta()
    for amount, unit in _PART.findall(compact):
        duration += timedelta(**{_UNITS[unit]: int(amount)})
    if duration <= timedelta(0):
        raise ValueError(f"a duration must be longer than zero, got {text!r}")
    return duration


def format_duration(duration: timedelta) -> str:
    """The inverse of parse_duration, largest units first: 90 minutes → `1h30m`."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
