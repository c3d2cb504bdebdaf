"""Tables of support's email (issue 16, helper "mail"): the tenant's mail settings (From
address, inbound secret), the email identity of ticket messages (Message-ID, delivery of a
reply) and attachments. Imported at the end of support/models.py."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from support.models import Ticket, TicketMessage


class MailSettings(models.Model):
    """One row (id 1), made on first use: the secret must be random per tenant, and a row made
    by a migration would be copied into every tenant cloned from the template schema."""

    # Blank: support@<slug>.<base domain> (support.mail_outbound.from_address).
    from_address = models.EmailField(_("send replies from"), blank=True)
    from_name = models.CharField(_("sender name"), max_length=100, blank=True)
    # Compared in constant time; printed by `manage.py support inbound-url` and shown to
    # administrators, so it is kept as it is (never written to the audit log).
    inbound_secret = models.CharField(max_length=64, blank=True, editable=False)
    inbound_secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="mailsettings_single")]

    def __str__(self) -> str:
        return "mail settings"


class MailHeader(models.Model):
    """The email identity of one message of a ticket: its Message-ID (threading, and the key
    that makes a relay's retry of an inbound mail change nothing), and for a reply its delivery:
    the claim a worker holds while sending, attempts, the last error."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("Received")
        OUTBOUND = "out", _("Sent")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="mail_headers")
    # None: the inbound mail that opened the ticket (its text is the ticket's description).
    message = models.OneToOneField(
        TicketMessage, on_delete=models.CASCADE, null=True, blank=True, related_name="mail"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    rfc_message_id = models.CharField(max_length=255, unique=True)  # without angle brackets
    created_at = models.DateTimeField(default=timezone.now)
    # Inbound: who wrote it (a colleague in copy may answer the thread); outbound: where it went.
    sender = models.EmailField(blank=True)
    recipient = models.EmailField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="mailheader_ticket_at")]

    def __str__(self) -> str:
        return self.rfc_message_id


class TicketAttachment(models.Model):
    """A file on a ticket (on one of its messages, or on the email that opened it), kept under
    the tenant's private files root (crm.tenants.files) and served only by
    support.views_mail.attachment_download after a scope check."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        TicketMessage,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
    )
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(_("size"))
    # Relative to the tenant's files root: "support/attachments/2026/12/<random>".
    path = models.CharField(max_length=255, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "message"], name="attachment_ticket_message")]

    def __str__(self) -> str:
        return self.filename


class SlaNoticeEmail(models.Model):
    """An SLA notice emailed to its recipient, once: the row is inserted (the claim) before the
    mail goes, so a rerun or a second worker never sends it again."""

    notice = models.OneToOneField(
        "support.SlaNotice", on_delete=models.CASCADE, related_name="email"
    )
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"email of notice {self.notice_id}"
