"""Which ticket status may follow which: the one table every path (the ticket page, bulk
actions, replies, later inbound email) checks through transition_error."""

from django.utils.translation import gettext as _

from support.models import Status

# Closed is final (a customer writing again opens a new ticket); nothing goes back to new.
ALLOWED: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(
        {Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}
    ),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def next_statuses(current: str) -> list[str]:
    """The statuses a ticket in `current` may move to, in the table's order."""
    allowed = ALLOWED.get(current, frozenset())
    return [s for s in Status.values if s in allowed]


def transition_error(current: str, target: str) -> str | None:
    """Why a ticket in `current` may not move to `target`, or None when it may."""
    if target not in Status.values:
        return _("Unknown status.")
    if target in ALLOWED.get(current, frozenset()):
        return None
    return _("A ticket that is “%(current)s” cannot be set to “%(target)s”.") % {
        "current": Status(current).label,
        "target": Status(target).label,
    }
