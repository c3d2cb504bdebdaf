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

from crm.accounts.audit import audit_redact
from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register
from customers.models import CustomerEmail, CustomerPhone
from support.models import Ticket, TicketMessage
from support.models_saved_views import TicketSavedView


def person_ticket_ids(erasure: Erasure) -> list[int]:
    """The person's tickets: linked ones, and unlinked ones whose requester email or phone is
    one of the person's (also used by support.erasure_mail, which runs first)."""
    ids = erasure.customer_ids
    emails = list(CustomerEmail.objects.filter(customer__in=ids).values_list("email", flat=True))
    phones = list(CustomerPhone.objects.filter(customer__in=ids).values_list("e164", flat=True))
    unlinked = Ticket.objects.filter(customer__isnull=True)
    tickets = Ticket.objects.filter(customer__in=ids)
    if emails:
        tickets = tickets | unlinked.filter(requester_email__in=emails)
    if phones:
        tickets = tickets | unlinked.filter(requester_phone__in=phones)
    return list(tickets.values_list("pk", flat=True))


def _erase_tickets(erasure: Erasure) -> None:
    ticket_ids = person_ticket_ids(erasure)
    if not ticket_ids:
        return
    message_ids = [
        str(pk)
        for pk in TicketMessage.objects.filter(ticket__in=ticket_ids).values_list("pk", flat=True)
    ]
    TicketMessage.objects.filter(ticket__in=ticket_ids).update(body="(erased)")
    Ticket.objects.filter(pk__in=ticket_ids).update(
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


def _erase_saved_views(erasure: Erasure) -> None:
    """A saved queue view whose search, filter or name gives the person's name, email or phone
    loses that part and is renamed; its audit entries are redacted."""
    touched = []
    for view in TicketSavedView.objects.only("id", "name", "query"):
        query = erasure.scrubbed_query(view.query)
        named = erasure.mentioned_in(view.name)
        if query == view.query and not named:
            continue
        TicketSavedView.objects.filter(pk=view.pk).update(
            query=query, name=f"Saved view #{view.pk}" if named else view.name
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
            "saved queue views searching for the person's name, email or phone",
            order=14,
        )
    )
