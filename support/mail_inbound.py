"""What an inbound email does to tickets (POST /inbound/email/<secret>, support.views_mail).

- Dropped, changing nothing: automatic mail (Auto-Submitted, X-Autoreply, Precedence bulk,
  junk or list, List-Id, delivery reports, a null or daemon sender, an automatic subject) and
  our own mail come back (our X-CRM-Mailer header, a Message-ID of our domain, or our From
  address): answering either would start a loop.
- Once per Message-ID: a relay's retry finds the MailHeader row and changes nothing (a
  transaction-scoped advisory lock on the id makes two simultaneous deliveries wait for each
  other).
- Threaded into its ticket by In-Reply-To or References naming one of the ticket's mails
  (those ids are random, so knowing one is proof enough), else by a "T-000123" in the subject
  when the sender is the ticket's requester or one of its customer's addresses (a reference
  alone is guessable: anyone else's mail opens a ticket of its own). A merged ticket's mail
  goes to the ticket it was merged into.
- On a threaded ticket: a "from the customer" message; resolved or pending on the customer
  goes back to open (support.transitions allows both); new, open and on hold stay. A closed
  ticket is final, so mail to it opens a new ticket, linked both ways in the histories.
- Otherwise a new ticket (channel email), the requester's email linking the customer it names
  (support.services.ticket_create).
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from customers.models import Customer, CustomerEmail
from support.attachments import (
    AttachmentInput,
    attachment_from_bytes,
    attachments_store,
    filename_clean,
)
from support.mail_outbound import MAILER_HEADER
from support.mail_parsing import ParsedMail
from support.mail_settings import current_tenant, default_from_address, mail_settings
from support.models import Channel, Status, Ticket, TicketEvent, TicketMessage
from support.models_mail import MailHeader
from support.services import TicketInput, ticket_create, ticket_status_set

SUBJECT_LIMIT = 200
# Statuses a customer's mail moves back to open.
REOPENED_BY_MAIL = (Status.RESOLVED, Status.PENDING)


@dataclass(frozen=True)
class InboundResult:
    outcome: str  # created, threaded, follow_up, duplicate, dropped
    ticket: Ticket | None = None
    reason: str = ""


def loop_reason(mail: ParsedMail) -> str:
    """Why `mail` is our own come back, or ""."""
    if MAILER_HEADER in mail.headers:
        return "our own mail"
    if mail.message_id.lower().endswith("@" + settings.CRM_MAIL_ID_DOMAIN.lower()):
        return "our own message id"
    row = mail_settings()
    ours = {default_from_address(current_tenant())}
    if row.from_address:
        ours.add(row.from_address)
    if mail.sender_email in ours:
        return "our own address"
    return ""


def _sender_checked(mail: ParsedMail) -> None:
    try:
        validate_email(mail.sender_email)
    except ValidationError:
        raise ValidationError({"from": _("The message has no valid From address.")}) from None


def _followed(ticket: Ticket) -> Ticket:
    """The ticket a merged one went into (a chain, at most a few links)."""
    for _step in range(10):
        if ticket.merged_into_id is None:
            break
        ticket = Ticket.objects.get(pk=ticket.merged_into_id)
    return ticket


def _sender_owns(ticket: Ticket, address: str) -> bool:
    if ticket.requester_email and ticket.requester_email == address:
        return True
    if ticket.customer_id is None:
        return False
    return CustomerEmail.objects.filter(customer_id=ticket.customer_id, email=address).exists()


def thread_ticket(mail: ParsedMail) -> Ticket | None:
    """The ticket `mail` answers, by its headers, else by the subject's reference."""
    ids = mail.thread_ids()
    if ids:
        known = {
            h.rfc_message_id: h.ticket_id
            for h in MailHeader.objects.filter(rfc_message_id__in=ids[:50])
        }
        for value in ids:
            if value in known:
                return _followed(Ticket.objects.get(pk=known[value]))
    for number in mail.subject_numbers():
        ticket = Ticket.objects.filter(number=number).first()
        if ticket is not None and _sender_owns(ticket, mail.sender_email):
            return _followed(ticket)
    return None


def _files(mail: ParsedMail) -> tuple[list[AttachmentInput], list[str]]:
    """The attachments kept (within the count and size limits) and the names of those left
    out: a customer's mail is never refused for its attachments."""
    kept: list[AttachmentInput] = []
    skipped: list[str] = []
    for part in mail.attachments:
        if (
            len(part.data) > settings.CRM_ATTACHMENT_MAX_BYTES
            or len(kept) >= settings.CRM_ATTACHMENT_MAX_COUNT
        ):
            skipped.append(filename_clean(part.filename))
        else:
            kept.append(attachment_from_bytes(part.filename, part.content_type, part.data))
    return kept, skipped


def _attach(ticket: Ticket, message: TicketMessage | None, mail: ParsedMail) -> None:
    kept, skipped = _files(mail)
    attachments_store(ticket=ticket, message=message, files=kept)
    if skipped:
        TicketMessage.objects.create(
            ticket=ticket,
            kind=TicketMessage.Kind.NOTE,
            author=None,
            body=_("Attachments not kept (too large, or too many): %(names)s")
            % {"names": ", ".join(skipped)},
        )


def _subject(mail: ParsedMail) -> str:
    return (mail.subject or _("(no subject)"))[:SUBJECT_LIMIT]


def _open_ticket(mail: ParsedMail, actor: User | None, customer: Customer | None = None) -> Ticket:
    ticket = ticket_create(
        actor=actor,
        data=TicketInput(
            subject=_subject(mail),
            description=mail.body,
            customer=customer,
            requester_name=mail.sender_name,
            requester_email=mail.sender_email,
            channel=Channel.EMAIL,
        ),
    )
    MailHeader.objects.create(
        ticket=ticket,
        message=None,
        direction=MailHeader.Direction.INBOUND,
        rfc_message_id=mail.message_id,
    )
    _attach(ticket, None, mail)
    return ticket


def _thread_into(ticket: Ticket, mail: ParsedMail, actor: User | None) -> Ticket:
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    message = TicketMessage.objects.create(
        ticket=ticket,
        kind=TicketMessage.Kind.CUSTOMER,
        author=None,
        body=mail.body or _("(no text)"),
    )
    MailHeader.objects.create(
        ticket=ticket,
        message=message,
        direction=MailHeader.Direction.INBOUND,
        rfc_message_id=mail.message_id,
        sender=mail.sender_email[:254],
    )
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="customer_wrote", data={"message": message.pk}
    )
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    _attach(ticket, message, mail)
    if ticket.status in REOPENED_BY_MAIL:
        ticket = ticket_status_set(actor=actor, ticket=ticket, status=Status.OPEN)
    return ticket


@writes
@transaction.atomic
def inbound_mail_receive(*, actor: User | None, mail: ParsedMail) -> InboundResult:
    """Act on one inbound email (see the module's docstring). Raises ValidationError for a
    message without a usable sender, changing nothing."""
    reason = mail.auto_reason or loop_reason(mail)
    if reason:
        return InboundResult("dropped", reason=reason)
    _sender_checked(mail)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [mail.message_id])
    seen = MailHeader.objects.filter(rfc_message_id=mail.message_id).select_related("ticket")
    first = seen.first()
    if first is not None:
        return InboundResult("duplicate", first.ticket)
    ticket = thread_ticket(mail)
    if ticket is None:
        return InboundResult("created", _open_ticket(mail, actor))
    if ticket.status != Status.CLOSED:
        return InboundResult("threaded", _thread_into(ticket, mail, actor))
    customer = ticket.customer if ticket.customer and not ticket.customer.erased_at else None
    follow_up = _open_ticket(mail, actor, customer)
    TicketMessage.objects.create(
        ticket=follow_up,
        kind=TicketMessage.Kind.NOTE,
        author=None,
        body=_("Written in reply to %(reference)s, which is closed.")
        % {"reference": ticket.reference},
    )
    TicketEvent.objects.bulk_create(
        [
            TicketEvent(
                ticket=follow_up, actor=actor, kind="follow_up_of", data={"other": ticket.pk}
            ),
            TicketEvent(ticket=ticket, actor=actor, kind="follow_up", data={"other": follow_up.pk}),
        ]
    )
    return InboundResult("follow_up", follow_up)
