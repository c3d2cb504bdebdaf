"""Saved views of the ticket queues: save (or overwrite by name), rename and delete. A view is
its owner's: only they change it. Sharing with everyone is for those who configure support
(managers and administrators, support.permissions), who may also delete a shared view that is
not theirs (its owner left, or it is out of date): what everyone sees is theirs to tidy."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.columns import text_error
from support.models import TicketSavedView
from support.permissions import can_configure_support

# What a saved view keeps of the queue page's query string: the queue and its filters (never
# the page's cursor or anything else a link may carry).
VIEW_PARAMETERS = ("queue", "q", "status", "priority", "team", "assignee", "category", "escalated")


def view_query(params: QueryDict) -> str:
    """The part of a queue page's query string a saved view keeps, in a fixed order."""
    kept = QueryDict(mutable=True)
    for name in VIEW_PARAMETERS:
        value = params.get(name, "")
        if value:
            kept[name] = value
    return kept.urlencode()


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the view a name.")})
    error = text_error(name, 100)
    if error:
        raise ValidationError({"name": error})
    return name


def _owned(actor: User | None, view: TicketSavedView) -> None:
    if actor is None or view.user_id != actor.pk:
        raise PermissionDenied


def _taken() -> ValidationError:
    return ValidationError({"name": _("You have another view with this name.")})


@writes
@transaction.atomic
def ticket_view_save(
    *, actor: User | None, name: str, query: QueryDict, shared: bool = False
) -> TicketSavedView:
    """Save the acting user's view of the queue (a view of theirs with the same name is
    overwritten). `shared` shows it to everyone, for those who configure support only."""
    if actor is None:
        raise ValueError("a saved view belongs to a person")
    name = _name(name)
    if shared and not can_configure_support(actor):
        raise ValidationError({"shared": _("Only managers and administrators share views.")})
    kept = view_query(query)
    if len(kept) > 1000:
        raise ValidationError({"name": _("This filter is too long to save.")})
    try:
        with transaction.atomic():
            view, _created = TicketSavedView.objects.update_or_create(
                user=actor, name=name, defaults={"query": kept, "shared": shared}
            )
    except IntegrityError:
        raise _taken() from None
    return view


@writes
@transaction.atomic
def ticket_view_rename(*, actor: User | None, view: TicketSavedView, name: str) -> TicketSavedView:
    _owned(actor, view)
    name = _name(name)
    if TicketSavedView.objects.filter(user=view.user_id, name=name).exclude(pk=view.pk).exists():
        raise _taken()
    view.name = name
    try:
        with transaction.atomic():
            view.save(update_fields=["name"])
    except IntegrityError:
        raise _taken() from None
    return view


@writes
@transaction.atomic
def ticket_view_delete(*, actor: User | None, view: TicketSavedView) -> None:
    if not may_delete(actor, view):
        raise PermissionDenied
    view.delete()


def may_delete(actor: User | None, view: TicketSavedView) -> bool:
    """Its owner; for a shared view, also whoever configures support."""
    if actor is None:
        return False
    return view.user_id == actor.pk or (view.shared and can_configure_support(actor))
