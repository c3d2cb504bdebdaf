"""The segments' step of the analytics refresh (analytics.refresh, order 30: after RFM and
churn, whose scores segment rules may test)."""

from __future__ import annotations

import datetime
from typing import Any

from analytics.segment_services import segments_materialise


def segments_refresh(*, as_of: datetime.date) -> dict[str, Any]:
    """Rebuild every segment's membership for `as_of`; a JSON-able summary."""
    return segments_materialise(actor=None, as_of=as_of)
