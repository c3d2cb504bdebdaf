"""The default segment map (R against FM, the common 5x5 RFM grid) and the lookups the pages
and the scoring share. Migration 0002 writes the same rules into every schema (pasted in;
tests/analytics/test_rfm_map.py keeps the two in step)."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.models import RfmSegment, SegmentRule

# (segment, R from, R to, FM from, FM to) in order; the first rule that matches wins.
# Together they cover all 25 cells of the grid exactly once.
DEFAULT_RULES: tuple[tuple[str, int, int, int, int], ...] = (
    (RfmSegment.CHAMPIONS, 5, 5, 4, 5),
    (RfmSegment.LOYAL, 3, 4, 4, 5),
    (RfmSegment.POTENTIAL_LOYALIST, 4, 5, 2, 3),
    (RfmSegment.NEW, 5, 5, 1, 1),
    (RfmSegment.PROMISING, 4, 4, 1, 1),
    (RfmSegment.NEED_ATTENTION, 3, 3, 3, 3),
    (RfmSegment.ABOUT_TO_SLEEP, 3, 3, 1, 2),
    (RfmSegment.CANT_LOSE, 1, 2, 5, 5),
    (RfmSegment.AT_RISK, 1, 2, 3, 4),
    (RfmSegment.HIBERNATING, 2, 2, 1, 2),
    (RfmSegment.LOST, 1, 1, 1, 2),
)

SEGMENT_ORDER = [key for key, *_ranges in DEFAULT_RULES]


def fm_score(f: int, m: int) -> int:
    """The FM axis of the map: the average of F and M, halves rounded up (SQL: (f + m + 1) / 2)."""
    return (f + m + 1) // 2


def segment_label(key: str) -> str:
    """A segment's name in the current language; '' is a customer no rule matched."""
    if not key:
        from django.utils.translation import gettext

        return gettext("No segment")
    try:
        return str(RfmSegment(key).label)
    except ValueError:
        return key


@dataclass(frozen=True)
class GridCell:
    r: int
    fm: int
    rule: SegmentRule | None


def grid(rules: list[SegmentRule]) -> list[list[GridCell]]:
    """The 5x5 map the rules make, R 5 (most recent) first, FM 1..5 left to right: which rule
    each cell falls to (None: no rule, those customers get no segment)."""
    rows = []
    for r in range(5, 0, -1):
        row = []
        for fm in range(1, 6):
            match = next(
                (
                    rule
                    for rule in rules
                    if rule.r_min <= r <= rule.r_max and rule.fm_min <= fm <= rule.fm_max
                ),
                None,
            )
            row.append(GridCell(r, fm, match))
        rows.append(row)
    return rows


def rule_matches(rule: SegmentRule, r: int, fm: int) -> bool:
    return rule.r_min <= r <= rule.r_max and rule.fm_min <= fm <= rule.fm_max
