"""Linking a ticket to its customer by hand (a requester no record matched when the ticket
came in): the customer change that decides the ticket's SLA targets again."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from customers.models import Customer
from customers.services import timeline_event_add
from support.models import Status, Ticket, TicketEvent

# The clock helpers of support.services: one definition of how a ticket's dues are kept.
from support.services import _locked, _retarget, _save


@writes
@transaction.atomic
def ticket_customer_link(*, actor: User | None, ticket: Ticket, customer: Customer) -> Ticket:
    """Link `customer` to a ticket that has none yet. Its SLA targets are decided again for
    the customer (an override for their tier may apply) and the due moments not met move."""
    ticket = _locked(ticket)
    if ticket.customer_id is not None:
        raise ValidationError({"customer": _("This ticket already has a customer.")})
    if ticket.status == Status.CLOSED:
        raise ValidationError({"customer": _("This ticket is closed.")})
    if customer.erased_at is not None:
        raise ValidationError({"customer": _("This customer was erased.")})
    ticket.customer = customer
    _retarget(ticket)
    _save(ticket)
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="customer", data={"customer": customer.pk}
    )
    timeline_event_add(
        actor=actor,
        customer=customer,
        event="ticket_opened",
        title=_("Ticket %(reference)s opened") % {"reference": ticket.reference},
    )
    return ticket
