"""Printing a benchmark's figures: an aligned table for people (a JSON line is for tools)."""

from __future__ import annotations

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
