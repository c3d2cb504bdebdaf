"""Writes of the public web form and its settings (issue 16, helper "portal"): keyword-only,
typed, one transaction each, attributed to `actor` (the web form's tickets to the system,
named "system: web form" by the view)."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.columns import text_error
from support import sla
from support.historic import HistoricTicket, historic_errors
from support.models import Channel, Status, Ticket, TicketEvent
from support.models_portal import WebFormSettings
from support.services import TicketInput, sla_due_of, ticket_create
from support.web_form import web_form_settings

INTRO_MAX = 2000
CATEGORIES_MAX = 30
CATEGORY_MAX = 60


@writes
@transaction.atomic
def web_form_settings_save(
    *, actor: User | None, enabled: bool, intro: str, categories: list[str]
) -> WebFormSettings:
    """Turn the form on or off, set its intro text and the categories customers choose from
    (in the order given; repeats dropped)."""
    intro = intro.strip()
    errors: dict[str, str] = {}
    error = text_error(intro, INTRO_MAX)
    if error:
        errors["intro"] = error
    cleaned: list[str] = []
    for category in categories:
        category = category.strip()
        if not category or category.casefold() in {c.casefold() for c in cleaned}:
            continue
        error = text_error(category, CATEGORY_MAX)
        if error:
            errors["categories"] = f"{category[:20]}: {error}"
        cleaned.append(category)
    if len(cleaned) > CATEGORIES_MAX:
        errors["categories"] = _("At most %(count)d categories.") % {"count": CATEGORIES_MAX}
    if errors:
        raise ValidationError(errors)
    settings, _created = WebFormSettings.objects.select_for_update().get_or_create(id=1)
    settings.enabled = enabled
    settings.intro = intro
    settings.categories = cleaned
    settings.save()
    return settings


@dataclass
class WebFormRequest:
    name: str
    email: str
    phone: str
    subject: str
    description: str
    category: str = ""


@writes
@transaction.atomic
def web_form_ticket_create(*, actor: User | None, data: WebFormRequest) -> Ticket:
    """A ticket from the public web form: channel "web form", the requester's contacts as
    given (the ticket service links the customer they name). A category must be one the
    tenant offers. ValidationError keys are the form's (name, email, phone, subject, ...)."""
    settings = web_form_settings()
    if not settings.enabled:
        raise ValidationError(_("The web form is turned off."))
    if data.category and data.category not in settings.categories:
        raise ValidationError({"category": _("Choose one of the categories offered.")})
    try:
        return ticket_create(
            actor=actor,
            data=TicketInput(
                subject=data.subject,
                description=data.description,
                requester_name=data.name,
                requester_email=data.email,
                requester_phone=data.phone,
                channel=Channel.WEB,
                category=data.category,
            ),
        )
    except ValidationError as exc:
        raise ValidationError(_form_errors(exc)) from None


_FIELD_OF = {
    "requester_name": "name",
    "requester_email": "email",
    "requester_phone": "phone",
    "customer": "email",
}


def _form_errors(exc: ValidationError) -> dict[str, list[str]]:
    if not hasattr(exc, "error_dict"):
        return {"__all__": exc.messages}
    errors: dict[str, list[str]] = {}
    for key, problems in exc.message_dict.items():
        errors.setdefault(_FIELD_OF.get(key, key), []).extend(problems)
    return errors


# --- historic tickets from an import ---------------------------------------------------------


@writes
@transaction.atomic
def ticket_import(*, actor: User | None, historic: HistoricTicket) -> Ticket:
    """Create a ticket as it stood elsewhere: opened at `created_at` (the SLA due moments are
    computed from it by ticket_create), first answered and resolved when the file says so. A
    resolved or closed ticket without a resolved time counts as resolved now; a ticket pending
    on the customer (or on hold, when that pauses the clock) is paused from now."""
    data = historic.data
    now = timezone.now()
    errors = historic_errors(historic, now)
    if errors:
        raise ValidationError(errors)
    ticket = ticket_create(actor=actor, data=data)
    finished = historic.status in (Status.RESOLVED, Status.CLOSED)
    if historic.first_responded_at is not None:
        ticket.first_responded_at = historic.first_responded_at
    if finished:
        ticket.resolved_at = historic.resolved_at or now
        ticket.sla_paused_since = ticket.resolved_at  # a finished ticket's clock stands still
        if historic.status == Status.CLOSED:
            ticket.closed_at = ticket.resolved_at
    elif historic.status in sla.paused_statuses(pause_on_hold=sla.support_settings().pause_on_hold):
        ticket.sla_paused_since = now
    ticket.status = historic.status
    ticket.sla_due = sla_due_of(ticket)
    ticket.save()
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="imported", data={"status": ticket.status}
    )
    # As stored (moments in UTC, not in the offsets the file gave): what undo compares with.
    ticket.refresh_from_db()
    return ticket
