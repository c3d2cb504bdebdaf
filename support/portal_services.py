"""Writes of the public web form and its settings (issue 16, helper "portal"): keyword-only,
typed, one transaction each, attributed to `actor` (the web form's tickets to the system,
named "system: web form" by the view)."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.columns import text_error
from support.models import Channel, Ticket
from support.models_portal import WebFormSettings
from support.services import TicketInput, ticket_create
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
