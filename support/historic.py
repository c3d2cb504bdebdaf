"""An imported ticket as it stood elsewhere, and the checks of its moments (shared by the
import's dry run and support.portal_services.ticket_import, so both say the same)."""

import datetime
from dataclasses import dataclass

from django.utils.translation import gettext as _

from support.models import Status
from support.services import TicketInput

# Clocks of two machines differ a little: "now" in a file written a moment ago is not future.
SLACK = datetime.timedelta(minutes=5)


@dataclass
class HistoricTicket:
    """What the ticket service takes (with `created_at`), and where the ticket stood: its
    status, and when it was first answered and resolved, when known."""

    data: TicketInput
    status: str = Status.NEW
    first_responded_at: datetime.datetime | None = None
    resolved_at: datetime.datetime | None = None


def historic_errors(historic: HistoricTicket, now: datetime.datetime) -> dict[str, str]:
    """{field: why} for moments that cannot be: opened in the future, answered or resolved
    before it was opened or after now, a resolved time on a ticket not resolved."""
    errors: dict[str, str] = {}
    created = historic.data.created_at or now
    if created > now + SLACK:
        errors["created"] = _("A ticket cannot be opened in the future.")
    if historic.status not in Status.values:
        errors["status"] = _("Unknown status.")
    for key, moment in (
        ("first_response", historic.first_responded_at),
        ("resolved", historic.resolved_at),
    ):
        if moment is not None and not created <= moment <= now + SLACK:
            errors[key] = _("Between the moment the ticket was opened and now.")
    if historic.resolved_at is not None and historic.status not in (
        Status.RESOLVED,
        Status.CLOSED,
    ):
        errors["resolved"] = _("Only a resolved or closed ticket has a resolved time.")
    return errors
