"""Support tickets, their conversation and history, and the SLA settings they are measured by.

Later parts of issue 16 (attachments, inbound email, the public web form, feedback surveys,
segment or tier overrides of SLA targets) add tables beside these; the ticket already keeps
what they need (channel, requester contacts, a pending-delivery flag on public replies)."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.accounts.models import Team, User
from customers.models import Customer

# The Postgres sequence ticket numbers come from (support/migrations/0001_initial.py).
TICKET_NUMBER_SEQUENCE = "support_ticket_number_seq"


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class Status(models.TextChoices):
    NEW = "new", pgettext_lazy("ticket status", "New")
    OPEN = "open", pgettext_lazy("ticket status", "Open")
    PENDING = "pending", _("Pending on customer")
    ON_HOLD = "on_hold", _("On hold")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    WEB = "web", _("Web form")
    STORE = "store", _("In store")
    CHAT = "chat", _("Chat")


class Kind(models.TextChoices):
    QUESTION = "question", _("Question")
    COMPLAINT = "complaint", _("Complaint")


class Severity(models.TextChoices):
    MINOR = "minor", _("Minor")
    MODERATE = "moderate", _("Moderate")
    MAJOR = "major", _("Major")
    CRITICAL = "critical", _("Critical")


class Ticket(models.Model):
    number = models.BigIntegerField(_("number"), unique=True, editable=False)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("customer"),
    )
    # Who asked when no customer record is linked (yet): the web form's or an email's sender.
    requester_name = models.CharField(_("requester name"), max_length=150, blank=True)
    requester_email = models.EmailField(_("requester email"), blank=True)
    requester_phone = models.CharField(_("requester phone"), max_length=20, blank=True)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.PHONE
    )
    category = models.CharField(_("category"), max_length=60, blank=True)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    tags = ArrayField(
        models.CharField(max_length=50), default=list, blank=True, verbose_name=_("tags")
    )
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.QUESTION)
    # Complaints only (blank for questions).
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, blank=True)
    root_cause = models.TextField(_("root cause"), blank=True)
    resolution = models.TextField(_("resolution"), blank=True)
    compensation = models.TextField(_("compensation"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.NEW
    )
    assignee = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("team"),
    )
    watchers = models.ManyToManyField(
        User, blank=True, related_name="watched_tickets", verbose_name=_("watchers")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # SLA: the due moments (None without a policy for the priority), and the clock's pauses
    # (support.sla): while paused, since when; in total, how many business minutes.
    first_response_due = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due = models.DateTimeField(_("resolution due"), null=True, blank=True)
    sla_paused_since = models.DateTimeField(null=True, blank=True)
    sla_paused_minutes = models.PositiveIntegerField(default=0)
    # The nearest due moment not met while the clock runs (None: paused, finished or without
    # a policy): what the near-breach queue sorts by and the SLA scan reads, through one index.
    sla_due = models.DateTimeField(null=True, blank=True, editable=False)
    first_responded_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # A complaint escalated to the team's managers (support.complaint_services): when.
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_tickets",
        verbose_name=_("merged into"),
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(subject=""), name="ticket_subject_not_empty"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in Status]), name="ticket_status_known"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=[p.value for p in Priority]),
                name="ticket_priority_known",
            ),
        ]
        indexes = [
            # The queues: open work by due time, and the keyset walk by id.
            models.Index(fields=["status", "id"], name="ticket_status_id"),
            models.Index(fields=["assignee", "status", "id"], name="ticket_assignee_status_id"),
            models.Index(fields=["team", "status", "id"], name="ticket_team_status_id"),
            models.Index(fields=["customer", "-id"], name="ticket_customer_id"),
            # The queue's search by part of the subject.
            GinIndex(fields=["subject"], name="ticket_subject_trgm", opclasses=["gin_trgm_ops"]),
            models.Index(
                fields=["sla_due", "id"],
                name="ticket_sla_due_running",
                condition=Q(sla_due__isnull=False),
            ),
            # The queues' "escalated complaints" filter: few rows, walked by id.
            models.Index(
                fields=["id"], name="ticket_escalated", condition=Q(escalated_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return ticket_reference(self.number)

    @property
    def is_finished(self) -> bool:
        return self.status in (Status.RESOLVED, Status.CLOSED)


def ticket_reference(number: int) -> str:
    return f"T-{number:06d}"


class TicketMessage(models.Model):
    class Kind(models.TextChoices):
        REPLY = "reply", _("Public reply")
        NOTE = "note", _("Internal note")
        CUSTOMER = "customer", _("From the customer")

    class Delivery(models.TextChoices):
        NONE = "", _("Not sent")
        # A public reply waits for the outbound mailer (a later part of issue 16) to send it.
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Sending failed")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    author = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(_("message"))
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="ticketmessage_ticket_at"),
            models.Index(
                fields=["id"],
                name="ticketmessage_delivery_pending",
                condition=Q(delivery="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


class TicketEvent(models.Model):
    """The ticket's history: who changed what, when. Values are ids and codes, never the
    customer's words, so erasure leaves the history alone."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["ticket", "at"], name="ticketevent_ticket_at")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


class SlaPolicy(models.Model):
    """Targets per priority, in business minutes. (Overrides per customer segment or loyalty
    tier come later as rows of their own, read before these.)"""

    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, unique=True)
    first_response_minutes = models.PositiveIntegerField(_("first response (business minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution (business minutes)"))

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_minutes__gt=0, resolution_minutes__gt=0),
                name="slapolicy_targets_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.priority


class BusinessHours(models.Model):
    """One weekday's opening hours in the tenant's time zone; a weekday without a row is
    closed. One span a day (a lunch break is not modelled)."""

    weekday = models.PositiveSmallIntegerField(_("weekday"), unique=True)  # 0 Monday .. 6 Sunday
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        ordering = ["weekday"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="businesshours_weekday"),
            models.CheckConstraint(
                condition=Q(closes__gt=models.F("opens")), name="businesshours_span"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.opens}-{self.closes}"


class HolidayOverride(models.Model):
    """The tenant's own calendar over the public one: a day off it adds, or a working day."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Day off")
        WORKING_DAY = "working", _("Working day")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.kind}"


class SupportSettings(models.Model):
    """The tenant's support settings: one row (id 1)."""

    # The country whose public holidays (and moved working days) count: None follows the
    # workspace's phone region (crm.tenants.models.Tenant.phone_region), blank counts none.
    holiday_country = models.CharField(
        _("public holidays of"), max_length=2, blank=True, null=True, default=None
    )
    near_breach_minutes = models.PositiveIntegerField(
        _("warn this many minutes before a breach"), default=60
    )
    pause_on_hold = models.BooleanField(_("pause the SLA clock while on hold"), default=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="supportsettings_single")]

    def __str__(self) -> str:
        return "support settings"


class CannedResponse(models.Model):
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"))
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(Lower("title"), name="cannedresponse_title_unique_ci")
        ]

    def __str__(self) -> str:
        return self.title


class SlaNotice(models.Model):
    """An SLA warning or breach told to someone, once: the unique key is the ticket, the clock,
    the level, the recipient and the due moment (a due moved by a pause can warn again)."""

    class Level(models.TextChoices):
        NEAR = "near", _("Near breach")
        BREACHED = "breached", _("Breached")
        ESCALATED = "escalated", _("Escalated")

    class Clock(models.TextChoices):
        FIRST_RESPONSE = "first_response", _("First response")
        RESOLUTION = "resolution", _("Resolution")
        # Not a clock: a complaint escalated by hand (due_at is the moment of escalation).
        COMPLAINT = "complaint", _("Complaint")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_notices")
    clock = models.CharField(max_length=20, choices=Clock.choices)
    level = models.CharField(max_length=10, choices=Level.choices)
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sla_notices")
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "clock", "level", "recipient", "due_at"],
                name="slanotice_once",
            )
        ]
        indexes = [models.Index(fields=["recipient", "read_at"], name="slanotice_recipient")]

    def __str__(self) -> str:
        return f"{self.level} {self.clock} on {self.ticket_id}"


# Feedback surveys (issue 16, helper "feedback"): their own module, one line here.
from support.models_feedback import *  # noqa: E402, F403

# Email and attachments (issue 16, helper "mail"): tables of their own, beside these.
from support.models_mail import MailHeader, MailSettings, TicketAttachment  # noqa: E402, F401
from support.models_portal import WebFormSettings  # noqa: E402, F401  (the web form's table)
from support.models_saved_views import TicketSavedView  # noqa: E402, F401
from support.models_slarep import SlaOverride, SlaOverrideTarget, TicketSla  # noqa: E402,F401
