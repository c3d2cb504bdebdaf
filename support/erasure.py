"""What tickets hold about a person, registered as an erasure holder (crm.lib.erasure).

Personal: what the customer or staff wrote (subject, description, every message), the
requester's name, email and phone, and a complaint's root cause, resolution and compensation
(they retell the case). Kept, for reports: the reference, status, priority, channel, category,
type, severity, tags (staff's labels), the team, assignee, timestamps and SLA figures, and the
history (ids and codes only). The audit entries of the tickets are reached by the customers'
audit holder (support_ticket has a foreign key to the customer); those of the messages, which
point at the ticket only, are blanked here.

Runs before the contacts holder (order 15), so tickets that were never linked but whose
requester email or phone is one of the person's are reached too."""

import re

from django.http import QueryDict

from crm.accounts.audit import audit_redact
from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register
from customers.models import CustomerEmail, CustomerPhone
from support.models import Ticket, TicketMessage
from support.models_saved_views import TicketSavedView

# Fewer digits than this in a search are not a phone number (a ticket number, a year).
PHONE_DIGITS_AT_LEAST = 7


def _erase_tickets(erasure: Erasure) -> None:
    ids = erasure.customer_ids
    emails = list(CustomerEmail.objects.filter(customer__in=ids).values_list("email", flat=True))
    phones = list(CustomerPhone.objects.filter(customer__in=ids).values_list("e164", flat=True))
    unlinked = Ticket.objects.filter(customer__isnull=True)
    tickets = Ticket.objects.filter(customer__in=ids)
    if emails:
        tickets = tickets | unlinked.filter(requester_email__in=emails)
    if phones:
        tickets = tickets | unlinked.filter(requester_phone__in=phones)
    ticket_ids = list(tickets.values_list("pk", flat=True))
    if not ticket_ids:
        return
    message_ids = [
        str(pk)
        for pk in TicketMessage.objects.filter(ticket__in=ticket_ids).values_list("pk", flat=True)
    ]
    TicketMessage.objects.filter(ticket__in=ticket_ids).update(body="(erased)")
    for pk in ticket_ids:
        Ticket.objects.filter(pk=pk).update(
            subject="Ticket of an erased customer",
            description="",
            requester_name="",
            requester_email="",
            requester_phone="",
            root_cause="",
            resolution="",
            compensation="",
        )
    # Entries written before this erasure; those its own updates wrote hold no values
    # (the audit trigger records which fields an erasure changed, not what they held).
    audit_redact(table_name=TicketMessage._meta.db_table, record_ids=message_ids)
    audit_redact(table_name=Ticket._meta.db_table, record_ids=[str(pk) for pk in ticket_ids])


def _names_person(search: str, emails: list[str], phones: list[str]) -> bool:
    text = search.strip().casefold()
    if not text:
        return False
    if any(email.casefold() in text for email in emails):
        return True
    digits = re.sub(r"\D", "", text)
    return len(digits) >= PHONE_DIGITS_AT_LEAST and any(
        digits in re.sub(r"\D", "", phone) for phone in phones
    )


def _erase_saved_views(erasure: Erasure) -> None:
    """A saved queue view whose search or name gives the person's email or phone loses that
    search and is renamed; its audit entries are redacted. (The person's name is gone by now,
    customers.record runs first: a search by name stays, as it would in anyone's memory.)"""
    ids = erasure.customer_ids
    emails = list(CustomerEmail.objects.filter(customer__in=ids).values_list("email", flat=True))
    phones = list(CustomerPhone.objects.filter(customer__in=ids).values_list("e164", flat=True))
    if not emails and not phones:
        return
    touched = []
    for view in TicketSavedView.objects.only("id", "name", "query"):
        params = QueryDict(view.query, mutable=True)
        search_names = _names_person(params.get("q", ""), emails, phones)
        name_names = _names_person(view.name, emails, phones)
        if not (search_names or name_names):
            continue
        if search_names:
            params.pop("q", None)
        TicketSavedView.objects.filter(pk=view.pk).update(
            query=params.urlencode(),
            name=f"Saved view #{view.pk}" if name_names else view.name,
        )
        touched.append(str(view.pk))
    if touched:
        audit_redact(table_name=TicketSavedView._meta.db_table, record_ids=touched)


def register() -> None:
    erasure_holder_register(
        ErasureHolder(
            "support.tickets",
            _erase_tickets,
            "ticket subjects, descriptions, messages, requester contacts, complaint texts",
            order=15,
        )
    )
    erasure_holder_register(
        ErasureHolder(
            "support.saved_views",
            _erase_saved_views,
            "saved queue views searching for the person's email or phone",
            order=14,
        )
    )
