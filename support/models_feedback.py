"""Feedback surveys (CSAT, NPS, CES): the tenant's survey settings, NPS sends to an audience,
one invitation per customer and occasion, the answers, and the per-customer claim that keeps
survey fatigue in check (support.feedback_services).

Imported by support.models (one line) so Django finds the tables in the support app."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

__all__ = [
    "FeedbackSettings",
    "SurveyContact",
    "SurveyInvitation",
    "SurveyKind",
    "SurveyResponse",
    "SurveySend",
]

# Keywords that make any comment a complaint (and its answer a detractor), in the tenant's
# two languages; the tenant edits its own list in the feedback settings.
DEFAULT_COMPLAINT_KEYWORDS = [
    "complaint",
    "refund",
    "rude",
    "terrible",
    "scam",
    "lawyer",
    "投诉",
    "退款",
    "态度差",
    "太差",
    "骗",
    "欺诈",
]


class SurveyKind(models.TextChoices):
    CSAT = "csat", _("CSAT (satisfaction, 1-5)")
    NPS = "nps", _("NPS (recommend, 0-10)")
    CES = "ces", _("CES (effort, 1-7)")


# The answer's range per kind, and the scores that make a detractor.
SCALES = {SurveyKind.CSAT: (1, 5), SurveyKind.NPS: (0, 10), SurveyKind.CES: (1, 7)}
DETRACTOR_AT_MOST = {SurveyKind.CSAT: 2, SurveyKind.NPS: 6, SurveyKind.CES: 2}


class FeedbackSettings(models.Model):
    """The tenant's survey settings: one row (id 1)."""

    csat_on_resolve = models.BooleanField(_("send CSAT when a ticket is resolved"), default=True)
    ces_on_resolve = models.BooleanField(_("send CES when a ticket is resolved"), default=False)
    # Set when a survey on resolve is turned on: tickets resolved before are never surveyed,
    # so turning it on does not mail a backlog.
    on_resolve_since = models.DateTimeField(default=timezone.now)
    resolve_delay_minutes = models.PositiveIntegerField(
        _("minutes after resolving before the survey goes out"), default=60
    )
    expiry_days = models.PositiveIntegerField(_("days a survey link works"), default=14)
    fatigue_days = models.PositiveIntegerField(
        _("at most one survey per customer in this many days"), default=30
    )
    complaint_keywords = ArrayField(
        models.CharField(max_length=50),
        default=list,
        blank=True,
        verbose_name=_("complaint keywords"),
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="feedbacksettings_single"),
            models.CheckConstraint(
                condition=Q(expiry_days__gte=1, expiry_days__lte=365),
                name="feedbacksettings_expiry_range",
            ),
        ]

    def __str__(self) -> str:
        return "feedback settings"


class SurveySend(models.Model):
    """An NPS survey sent to an audience: the customer list's filter (a query string) or a list
    of external ids, planned and sent in chunks by workers; progress from its invitations."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("survey"), max_length=4, choices=SurveyKind.choices)
    name = models.CharField(_("name"), max_length=100)
    audience_query = models.TextField(_("customer list filter"), blank=True)
    external_ids = models.TextField(_("external ids"), blank=True)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    status_detail = models.TextField(blank=True)
    # How many customers the audience held when it was planned (None until then).
    total = models.PositiveIntegerField(null=True, blank=True)
    # How many chunks (of about 500 customers) the plan handed to workers.
    chunks = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class SurveyInvitation(models.Model):
    """One customer asked once on one occasion: `key` says which ("ticket:12", "send:4:981"
    for send 4's customer 981), unique, claimed before anything is sent (ARCHITECTURE.md §5;
    unique by itself, so a customer merge that moves two customers' rows onto one keeps it).
    A customer who may not be asked still gets a row, `skipped` with the reason, so a
    redelivered task decides nothing twice."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Sending failed")
        SKIPPED = "skipped", _("Not sent")

    class Skip(models.TextChoices):
        NONE = "", "—"
        NO_CONSENT = "no_consent", _("No email consent")
        NO_EMAIL = "no_email", _("No email address")
        FATIGUE = "fatigue", _("Surveyed recently")
        ERASED = "erased", _("Erased")

    kind = models.CharField(_("survey"), max_length=4, choices=SurveyKind.choices)
    key = models.CharField(max_length=60)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="survey_invitations"
    )
    ticket = models.ForeignKey(
        "support.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="survey_invitations",
    )
    send = models.ForeignKey(
        SurveySend, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations"
    )
    # Who and what the answer is reported by, as they were when the survey was decided (a
    # ticket's assignee, team, category and channel; an NPS send's customer's team).
    agent = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    category = models.CharField(max_length=60, blank=True)
    channel = models.CharField(max_length=10, blank=True)
    email = models.EmailField(blank=True)
    language = models.CharField(max_length=10, default="en")
    # A CSAT survey that also asks the effort question (CES beside CSAT, per the settings).
    with_effort = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    skip_reason = models.CharField(max_length=12, choices=Skip.choices, blank=True, default="")
    # Only the hash of the link's token; the link in the email is the only copy of the token.
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="surveyinvitation_once"),
        ]
        indexes = [
            models.Index(fields=["send", "state"], name="surveyinvitation_send_state"),
            models.Index(
                fields=["id"],
                name="surveyinvitation_pending",
                condition=Q(state="pending"),
            ),
            models.Index(fields=["customer", "-id"], name="surveyinvitation_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class SurveyResponse(models.Model):
    """The answer to one invitation: at most one (the one-to-one's unique key)."""

    invitation = models.OneToOneField(
        SurveyInvitation, on_delete=models.CASCADE, related_name="response"
    )
    kind = models.CharField(_("survey"), max_length=4, choices=SurveyKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="survey_responses"
    )
    score = models.SmallIntegerField(pgettext_lazy("survey answers", "score"))
    # The effort answer (1-7) of a CSAT survey that asked it too.
    effort = models.SmallIntegerField(_("effort"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(_("answered"), default=timezone.now)
    detractor = models.BooleanField(_("detractor"), default=False)
    # Why it counts as a detractor: "score", or the complaint keyword the comment held.
    detractor_reason = models.CharField(max_length=60, blank=True)
    follow_up = models.OneToOneField(
        "support.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="survey_response",
        verbose_name=_("follow-up ticket"),
    )

    class Meta:
        ordering = ["-answered_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=10), name="surveyresponse_score_range"
            ),
            models.CheckConstraint(
                condition=Q(effort__isnull=True) | Q(effort__gte=1, effort__lte=7),
                name="surveyresponse_effort_range",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "answered_at"], name="surveyresponse_kind_at"),
            models.Index(
                fields=["answered_at", "customer"],
                name="surveyresponse_detractors",
                condition=Q(detractor=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.score}"


class SurveyContact(models.Model):
    """When the customer was last sent a survey: the fatigue claim. One statement (an upsert
    that only moves the moment on when the last is older than the fatigue window) claims the
    customer, so two workers can never both survey them within the window."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_contact"
    )
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.customer_id} {self.last_at}"
