"""Sending public replies by email (support.tasks_mail.reply_send, after the reply commits).

A reply is stored "pending" (support.services.ticket_reply). The task claims it first (a lease
on its MailHeader row, under the message's row lock), so two workers given the same message
never both send it, and a redelivered task finds it sent and does nothing. The Message-ID is
fixed at the first claim: a retry after a failure the relay half-accepted carries the same id,
which mail clients treat as the same message. After MAX_ATTEMPTS failures the reply is marked
failed, which the ticket page shows.

The mail goes To the requester's email or else the customer's primary email, From the tenant's
support address (support.mail_settings), with "[T-000123] subject", In-Reply-To and References
to the ticket's earlier mail, and X-CRM-Ticket naming the ticket; a ticket without an address
is never sent (the page says so before anyone replies)."""

import datetime
import smtplib
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from customers.models import CustomerEmail
from support.attachments import attachment_path
from support.mail_settings import current_tenant, from_header, mail_settings
from support.models import Ticket, TicketEvent, TicketMessage
from support.models_mail import MailHeader, TicketAttachment

LEASE = datetime.timedelta(minutes=10)
MAX_ATTEMPTS = 5
TICKET_HEADER = "X-CRM-Ticket"
# Marks mail we sent: an inbound mail carrying it came back to us (support.mail_inbound).
MAILER_HEADER = "X-CRM-Mailer"
MAILER_NAME = "crm-support"
# How many earlier Message-IDs go into References (a long thread's header stays short).
REFERENCES_KEPT = 10


def reply_recipient(ticket: Ticket) -> str:
    """The requester's email, else the customer's primary (else first) email; "" for none."""
    if ticket.requester_email:
        return ticket.requester_email
    if ticket.customer_id is None:
        return ""
    found = (
        CustomerEmail.objects.filter(customer_id=ticket.customer_id)
        .order_by("-is_primary", "id")
        .values_list("email", flat=True)
        .first()
    )
    return found or ""


def new_message_id(ticket: Ticket) -> str:
    return f"{ticket.reference}.{uuid.uuid4().hex}@{settings.CRM_MAIL_ID_DOMAIN}"


def backoff_seconds(retries: int) -> int:
    """30 s, 1 min, 2 min, 4 min, ... between attempts, at most an hour."""
    return int(min(3600, 30 * 2**retries))


@dataclass(frozen=True)
class Claimed:
    message: TicketMessage
    header: MailHeader


@writes
@transaction.atomic
def reply_claim(*, actor: User | None, message_id: int) -> Claimed | None:
    """Take the pending reply `message_id` for sending: None when it is not a pending reply,
    another worker's lease on it is still running, or the ticket has no address (then it is
    marked not sent, for good)."""
    message = (
        TicketMessage.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(pk=message_id, kind=TicketMessage.Kind.REPLY)
        .first()
    )
    if message is None or message.delivery != TicketMessage.Delivery.PENDING:
        return None
    now = timezone.now()
    header = MailHeader.objects.filter(message=message).first()
    if header is not None and header.claimed_at and header.claimed_at > now - LEASE:
        return None
    recipient = reply_recipient(message.ticket)
    if not recipient:
        message.delivery = TicketMessage.Delivery.NONE
        message.save(update_fields=["delivery"])
        TicketEvent.objects.create(
            ticket=message.ticket,
            actor=actor,
            kind="email_unaddressed",
            data={"message": message.pk},
        )
        return None
    if header is None:
        header = MailHeader(
            ticket=message.ticket,
            message=message,
            direction=MailHeader.Direction.OUTBOUND,
            rfc_message_id=new_message_id(message.ticket),
        )
    header.recipient = recipient
    header.claimed_at = now
    header.attempts += 1
    header.save()
    return Claimed(message, header)


@writes
@transaction.atomic
def reply_mark_sent(*, actor: User | None, claimed: Claimed) -> None:
    now = timezone.now()
    MailHeader.objects.filter(pk=claimed.header.pk).update(
        sent_at=now, claimed_at=None, last_error=""
    )
    TicketMessage.objects.filter(pk=claimed.message.pk).update(delivery=TicketMessage.Delivery.SENT)
    TicketEvent.objects.create(
        ticket_id=claimed.message.ticket_id,
        actor=actor,
        kind="emailed",
        data={"message": claimed.message.pk},
    )


@writes
@transaction.atomic
def reply_mark_failed(*, actor: User | None, claimed: Claimed, error: str) -> bool:
    """Record a failed attempt and give the claim back; after MAX_ATTEMPTS the reply is
    marked failed. True when it may be tried again."""
    final = claimed.header.attempts >= MAX_ATTEMPTS
    MailHeader.objects.filter(pk=claimed.header.pk).update(claimed_at=None, last_error=error[:300])
    if final:
        TicketMessage.objects.filter(
            pk=claimed.message.pk, delivery=TicketMessage.Delivery.PENDING
        ).update(delivery=TicketMessage.Delivery.FAILED)
        TicketEvent.objects.create(
            ticket_id=claimed.message.ticket_id,
            actor=actor,
            kind="email_failed",
            data={"message": claimed.message.pk, "attempts": claimed.header.attempts},
        )
    return not final


@writes
@transaction.atomic
def reply_retry(*, actor: User | None, message: TicketMessage) -> None:
    """Send a failed reply again (the ticket page's button): pending, with fresh attempts."""
    updated = TicketMessage.objects.filter(
        pk=message.pk, kind=TicketMessage.Kind.REPLY, delivery=TicketMessage.Delivery.FAILED
    ).update(delivery=TicketMessage.Delivery.PENDING)
    if updated:
        MailHeader.objects.filter(message=message).update(attempts=0, claimed_at=None)
        TicketEvent.objects.create(
            ticket_id=message.ticket_id,
            actor=actor,
            kind="email_retry",
            data={"message": message.pk},
        )
        reply_enqueue(message.pk)


def reply_enqueue(message_id: int) -> None:
    """Send the reply once the transaction that saved it commits."""
    from support.tasks_mail import reply_send_task

    transaction.on_commit(lambda: reply_send_task.delay(message_id))


def _thread_ids(header: MailHeader) -> list[str]:
    """The Message-IDs of the ticket's earlier mail, oldest first (the last REFERENCES_KEPT)."""
    earlier = (
        MailHeader.objects.filter(ticket_id=header.ticket_id, created_at__lte=header.created_at)
        .exclude(pk=header.pk)
        .order_by("-created_at", "-id")
        .values_list("rfc_message_id", flat=True)[:REFERENCES_KEPT]
    )
    return list(reversed(list(earlier)))


def reply_email(claimed: Claimed) -> EmailMessage:
    """The email of a claimed reply, with its attachments."""
    ticket = claimed.message.ticket
    tenant = current_tenant()
    thread = _thread_ids(claimed.header)
    headers = {
        "Message-ID": f"<{claimed.header.rfc_message_id}>",
        TICKET_HEADER: ticket.reference,
        MAILER_HEADER: MAILER_NAME,
        "Auto-Submitted": "no",
    }
    if thread:
        headers["In-Reply-To"] = f"<{thread[-1]}>"
        headers["References"] = " ".join(f"<{m}>" for m in thread)
    email = EmailMessage(
        subject=f"[{ticket.reference}] {' '.join(ticket.subject.split())}",
        body=claimed.message.body,
        from_email=from_header(tenant, mail_settings()),
        to=[claimed.header.recipient],
        headers=headers,
    )
    for attachment in TicketAttachment.objects.filter(message=claimed.message).order_by("id"):
        email.attach(
            attachment.filename,
            attachment_path(attachment).read_bytes(),
            attachment.content_type or "application/octet-stream",
        )
    return email


@dataclass(frozen=True)
class SendOutcome:
    sent: bool
    retry: bool = False


def reply_send(*, message_id: int) -> SendOutcome:
    """Claim, send and record one reply (outside any transaction: the SMTP conversation holds
    no row lock). Idempotent: a reply already sent, or being sent, is left alone."""
    claimed = reply_claim(actor=None, message_id=message_id)
    if claimed is None:
        return SendOutcome(sent=False)
    try:
        email = reply_email(claimed)
        with get_connection(fail_silently=False) as smtp:
            smtp.send_messages([email])
    except (smtplib.SMTPException, OSError) as exc:
        again = reply_mark_failed(actor=None, claimed=claimed, error=_error_text(exc))
        return SendOutcome(sent=False, retry=again)
    reply_mark_sent(actor=None, claimed=claimed)
    return SendOutcome(sent=True)


def _error_text(exc: Exception) -> str:
    """What the ticket page may show of a failure: its kind and SMTP code, never the relay's
    text (a refused recipient's answer repeats the customer's address)."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def replies_pending(older_than: datetime.timedelta) -> list[int]:
    """Pending replies whose task was lost (a broker restart): the sweep sends them again."""
    cutoff = timezone.now() - older_than
    return list(
        TicketMessage.objects.filter(
            delivery=TicketMessage.Delivery.PENDING, created_at__lt=cutoff
        ).values_list("pk", flat=True)[:500]
    )
