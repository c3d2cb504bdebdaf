"""Cells for CSV and Excel files we write."""

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """Text a spreadsheet shows as it is: a cell that starts like a formula (= + - @, tab or
    carriage return) gets a leading apostrophe, so opening an export never runs anything.
    So does one whose apostrophes are followed by such a start ("'=x" becomes "''=x"): then
    crm.transfer.values.unescape_formula, which drops exactly one, gives back every cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text
