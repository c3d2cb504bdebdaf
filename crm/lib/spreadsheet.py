"""Cells for CSV and Excel files we write."""

from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """Text a spreadsheet shows as it is: a cell that starts like a formula (= + - @, tab or
    carriage return) gets a leading apostrophe, so opening an export never runs anything."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
