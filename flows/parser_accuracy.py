"""How well the request parser does on a labelled data set: accuracy per field and a confusion
matrix for the category (design §5). Pure: rows in, figures and a printable report out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.request_parser import CATEGORIES, ParsedRequest, parse_request

LOCATION_FIELDS = ("building", "unit", "floor", "room")
# Category, urgency and location are scored on the labelled requests only: for a non-request
# they are null by definition, and counting them would flatter the figures.
FIELDS = ("is_request", "category", "urgent", *LOCATION_FIELDS, "location")
LABEL_KEYS = ("text", "is_request", "category", "urgent", *LOCATION_FIELDS, "description")
NONE = "(none)"  # the confusion matrix's row/column for "not a request"


class DataError(ValueError):
    """A labelled data file that cannot be read; names the line."""


def read_labelled(path: str | Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            missing = [key for key in LABEL_KEYS if key not in row]
            if missing:
                raise DataError(f"{path}:{number}: missing {', '.join(missing)}")
            rows.append(row)
    return rows


@dataclass
class Mistake:
    text: str
    field: str
    expected: Any
    got: Any


@dataclass
class Accuracy:
    total: int = 0
    requests: int = 0
    correct: Counter = field(default_factory=Counter)
    scored: Counter = field(default_factory=Counter)
    confusion: Counter = field(default_factory=Counter)  # (labelled, parsed) category pairs
    urgent_counts: Counter = field(default_factory=Counter)  # (labelled, parsed) urgency pairs
    mistakes: list[Mistake] = field(default_factory=list)

    def share(self, name: str) -> float:
        return self.correct[name] / self.scored[name] if self.scored[name] else 1.0

    @property
    def urgent_recall(self) -> float:
        """Of the requests labelled urgent, the share read as urgent (1.0 when there are none)."""
        labelled = self.urgent_counts[True, True] + self.urgent_counts[True, False]
        return self.urgent_counts[True, True] / labelled if labelled else 1.0

    @property
    def urgent_precision(self) -> float:
        """Of the requests read as urgent, the share labelled urgent (1.0 when there are none)."""
        read = self.urgent_counts[True, True] + self.urgent_counts[False, True]
        return self.urgent_counts[True, True] / read if read else 1.0


def _score(accuracy: Accuracy, name: str, expected: Any, got: Any, text: str) -> None:
    accuracy.scored[name] += 1
    if expected == got:
        accuracy.correct[name] += 1
    else:
        accuracy.mistakes.append(Mistake(text, name, expected, got))


def evaluate(rows: Iterable[Mapping[str, Any]],
             parse: Callable[[str], ParsedRequest] = parse_request) -> Accuracy:
    accuracy = Accuracy()
    for row in rows:
        parsed = parse(row["text"])
        accuracy.total += 1
        _score(accuracy, "is_request", row["is_request"], parsed.is_request, row["text"])
        accuracy.confusion[(row["category"] or NONE, parsed.category or NONE)] += 1
        if not row["is_request"]:
            continue
        accuracy.requests += 1
        _score(accuracy, "category", row["category"], parsed.category, row["text"])
        _score(accuracy, "urgent", row["urgent"], parsed.urgent, row["text"])
        accuracy.urgent_counts[bool(row["urgent"]), bool(parsed.urgent)] += 1
        for name in LOCATION_FIELDS:
            _score(accuracy, name, row[name], getattr(parsed, name), row["text"])
        _score(accuracy, "location", tuple(row[n] for n in LOCATION_FIELDS),
               tuple(getattr(parsed, n) for n in LOCATION_FIELDS), row["text"])
    return accuracy


def format_report(accuracy: Accuracy, title: str, show_mistakes: int = 0) -> str:
    lines = [f"{title}: {accuracy.total} texts, {accuracy.requests} requests", ""]
    lines += [f"  {name:<11} {accuracy.share(name):7.1%}  ({accuracy.correct[name]}/{accuracy.scored[name]})"
              for name in FIELDS]
    counts = accuracy.urgent_counts
    lines += [f"  {'urgent recall':<16}{accuracy.urgent_recall:7.1%}  "
              f"({counts[True, True]}/{counts[True, True] + counts[True, False]} urgent read as urgent)",
              f"  {'urgent precision':<16}{accuracy.urgent_precision:7.1%}  "
              f"({counts[True, True]}/{counts[True, True] + counts[False, True]} read as urgent are)"]
    labels = [*CATEGORIES, NONE]
    width = max(len(label) for label in labels) + 1
    lines += ["", "category confusion (rows: labelled, columns: parsed)", ""]
    lines.append(" " * width + "".join(f"{label[:6]:>7}" for label in labels))
    for expected in labels:
        counts = [accuracy.confusion[(expected, got)] for got in labels]
        if any(counts):
            lines.append(f"{expected:<{width}}" + "".join(f"{c or '.':>7}" for c in counts))
    if show_mistakes:
        lines += ["", f"first {show_mistakes} mistakes:"]
        lines += [f"  {m.field}: expected {m.expected!r}, got {m.got!r} — {m.text}"
                  for m in accuracy.mistakes[:show_mistakes]]
    return "\n".join(lines)
