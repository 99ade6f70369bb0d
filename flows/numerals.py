"""Chinese and full-width numerals to Arabic-digit strings.

Residents write places as `七号楼`, `二十号楼`, `十一栋`, `４楼`; every stored location is an
Arabic-digit string, so the parser and the config's `covers` share this one conversion.
"""

from __future__ import annotations

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
           "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}

CHINESE_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS)


def chinese_to_int(text: str) -> int | None:
    """Value of a Chinese numeral below 10,000 (`十一` → 11, `二十` → 20, `一百零五` → 105).

    Digit-by-digit forms (`一一零二` → 1102) are read positionally. None when `text` is not one.
    """
    if not text or any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        return None
    if not any(ch in _UNITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, pending = 0, None
    for ch in text:
        if ch in _DIGITS:
            if pending is not None and pending != 0:
                return None  # two digits in a row inside a unit form: not a numeral
            pending = _DIGITS[ch]
        else:
            total += (1 if pending is None else pending) * _UNITS[ch]
            pending = None
    return total + (pending or 0)


def to_arabic(text: str) -> str | None:
    """`"七"` → `"7"`, `"１２"` → `"12"`, `"02"` → `"2"`; None when `text` is not a number."""
    text = text.strip()
    if not text:
        return None
    ascii_digits = text.translate(_FULL_WIDTH_DIGITS)
    if ascii_digits.isascii() and ascii_digits.isdigit():
        return str(int(ascii_digits))
    value = chinese_to_int(text)
    return None if value is None else str(value)


_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
