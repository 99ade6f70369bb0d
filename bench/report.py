"""Printing a benchmark's figures: an aligned table for people (a JSON line is for tools)."""

from __future__ import annotations

import sys
import unicodedata


def _width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(_width(str(row[column])) for row in (header, *rows))
              for column in range(len(header))]
    for index, row in enumerate((header, *rows)):
        cells = [str(cell) + " " * (width - _width(str(cell))) for cell, width in zip(row, widths)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def progress(done: int, total: int, label: str) -> None:
    """Progress of long work on stderr: one line redrawn in a terminal, quarter steps in a log."""
    if sys.stderr.isatty():
        print(f"\r  {label}: {done:,}/{total:,}", end="\n" if done == total else "",
              file=sys.stderr, flush=True)
    elif done == total or done % max(1, total // 4) == 0:
        print(f"  {label}: {done:,}/{total:,}", file=sys.stderr, flush=True)
