"""RFM: the tenant's scoring settings, its segment map, each customer's current scores, the
snapshots taken at every refresh (for transitions between dates), and the refresh jobs a
user asks for. The scores are written by analytics.rfm in SQL; see docs/analytics.md."""

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import User
from customers.models import Customer

SCORE_VALIDATORS = [MinValueValidator(1), MaxValueValidator(5)]


class RfmSegment(models.TextChoices):
    """The named segments of the RFM map; the tenant edits which scores lead to each."""

    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALIST = "potential_loyalist", _("Potential Loyalist")
    NEW = "new", _("New")
    PROMISING = "promising", _("Promising")
    NEED_ATTENTION = "need_attention", _("Need Attention")
    ABOUT_TO_SLEEP = "about_to_sleep", _("About to Sleep")
    AT_RISK = "at_risk", _("At Risk")
    CANT_LOSE = "cant_lose", _("Can't Lose Them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class RfmSettings(models.Model):
    """One row (pk 1) per tenant: the window of orders scored and how scores are given."""

    class Scoring(models.TextChoices):
        QUINTILES = "quintiles", _("Quintiles of the tenant's customers")
        FIXED = "fixed", _("Fixed thresholds")

    window_days = models.PositiveIntegerField(
        _("window (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Only orders in this many days up to the as-of date count. Empty: all history."
        ),
    )
    scoring = models.CharField(
        _("scoring"), max_length=10, choices=Scoring.choices, default=Scoring.QUINTILES
    )
    # Fixed thresholds, four each, for scores 5..2 (R: at most that many days; F, M: at least
    # that much for scores 2..5). Checked ascending by analytics.rfm_settings.
    recency_days = ArrayField(
        models.PositiveIntegerField(), size=4, default=list, verbose_name=_("recency thresholds")
    )
    frequency = ArrayField(
        models.PositiveIntegerField(), size=4, default=list, verbose_name=_("frequency thresholds")
    )
    monetary = ArrayField(
        models.DecimalField(max_digits=14, decimal_places=2),
        size=4,
        default=list,
        verbose_name=_("monetary thresholds"),
    )
    snapshot_keep_days = models.PositiveIntegerField(
        _("keep snapshots (days)"),
        default=400,
        validators=[MinValueValidator(1)],
        help_text=_("Snapshots older than this are removed at the next refresh."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("RFM settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="rfm_settings_single")]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


DEFAULT_RECENCY_DAYS = [30, 90, 180, 365]
DEFAULT_FREQUENCY = [2, 3, 5, 10]
DEFAULT_MONETARY = [Decimal("100"), Decimal("250"), Decimal("500"), Decimal("1000")]


class SegmentRule(models.Model):
    """One rule of the segment map: customers whose R score and FM score (the average of F and
    M, halves rounded up) fall in the ranges get the segment. The first rule by position wins."""

    position = models.PositiveSmallIntegerField(_("order"))
    segment = models.CharField(_("segment"), max_length=30, choices=RfmSegment.choices)
    r_min = models.PositiveSmallIntegerField(_("R from"), validators=SCORE_VALIDATORS)
    r_max = models.PositiveSmallIntegerField(_("R to"), validators=SCORE_VALIDATORS)
    fm_min = models.PositiveSmallIntegerField(_("FM from"), validators=SCORE_VALIDATORS)
    fm_max = models.PositiveSmallIntegerField(_("FM to"), validators=SCORE_VALIDATORS)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("segment rule")
        constraints = [
            models.CheckConstraint(
                condition=Q(r_min__gte=1, r_max__lte=5, r_min__lte=models.F("r_max")),
                name="segment_rule_r_range",
            ),
            models.CheckConstraint(
                condition=Q(fm_min__gte=1, fm_max__lte=5, fm_min__lte=models.F("fm_max")),
                name="segment_rule_fm_range",
            ),
        ]

    def __str__(self) -> str:
        ranges = f"R {self.r_min}-{self.r_max}, FM {self.fm_min}-{self.fm_max}"
        return f"{self.get_segment_display()}: {ranges}"


class RfmScore(models.Model):
    """A customer's scores from the latest refresh. Rebuilt whole at each refresh; derived
    data, so no database constraint to the customer (a merge's dropped record or an undone
    import's customers leave rows the next refresh drops; analytics.apps registers the
    removal for import undo)."""

    customer = models.OneToOneField(
        Customer,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="rfm_score",
    )
    as_of = models.DateField()
    recency_days = models.PositiveIntegerField()
    frequency = models.PositiveIntegerField()
    monetary = models.DecimalField(max_digits=16, decimal_places=2)
    # cume_dist() of each measure among the scored customers (quintile scoring; null when
    # scored by fixed thresholds): the "why" shows where the customer stands.
    recency_cume = models.FloatField(null=True)
    frequency_cume = models.FloatField(null=True)
    monetary_cume = models.FloatField(null=True)
    r = models.PositiveSmallIntegerField()
    f = models.PositiveSmallIntegerField()
    m = models.PositiveSmallIntegerField()
    fm = models.PositiveSmallIntegerField()
    segment = models.CharField(max_length=30, blank=True)
    # Which rule gave the segment (the customer tab's "why"); never looked up by, so no index.
    rule = models.ForeignKey(
        SegmentRule,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )

    class Meta:
        indexes = [models.Index(fields=["segment"], name="rfm_score_segment")]

    def __str__(self) -> str:
        return f"{self.customer_id}: R{self.r} F{self.f} M{self.m} {self.segment}"


class RfmSnapshot(models.Model):
    """The scores as one refresh left them, one per as-of date (a second refresh for the same
    date replaces it)."""

    as_of = models.DateField(unique=True)
    taken_at = models.DateTimeField(default=timezone.now)
    scoring = models.CharField(max_length=10)
    window_days = models.PositiveIntegerField(null=True)
    scored = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict)  # segment key ("" unsegmented) -> customers

    class Meta:
        ordering = ["-as_of"]

    def __str__(self) -> str:
        return f"RFM {self.as_of}"


class RfmSnapshotEntry(models.Model):
    """One customer's scores in a snapshot. customer_id is a plain number: history outlives
    merges and removals, and counts stay as they were."""

    # No database constraint: a refresh writes a hundred thousand entries at once, and a
    # deferred check per row would cost more than the rows (analytics.rfm deletes entries with
    # their snapshot).
    snapshot = models.ForeignKey(
        RfmSnapshot,
        on_delete=models.CASCADE,
        related_name="entries",
        db_constraint=False,
        db_index=False,  # the unique constraint's index starts with it
    )
    customer_id = models.BigIntegerField()
    r = models.PositiveSmallIntegerField()
    f = models.PositiveSmallIntegerField()
    m = models.PositiveSmallIntegerField()
    segment = models.CharField(max_length=30, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "customer_id"], name="rfm_snapshot_entry_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}/{self.customer_id}"


class RefreshJob(models.Model):
    """A refresh of the analytics asked for from the page or run nightly; one busy at a time
    per tenant (the partial unique constraint). Liveness per crm.lib.liveness."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    BUSY = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    as_of = models.DateField(null=True, blank=True)
    requested_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    steps_done = models.PositiveSmallIntegerField(default=0)
    steps_total = models.PositiveSmallIntegerField(default=0)
    step_label = models.CharField(max_length=100, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # At most one row is busy, whichever of the two busy states it is in.
            models.UniqueConstraint(
                models.Value(1),
                # Two equalities, not IN: a clone replayed from the template's dump prints
                # an IN list differently (tests/tenants/test_provisioning.py compares them).
                condition=Q(status="queued") | Q(status="running"),
                name="refresh_job_one_busy",
                violation_error_message=_("A refresh is already running."),
            )
        ]

    def __str__(self) -> str:
        return f"refresh {self.pk} ({self.status})"

    @property
    def busy(self) -> bool:
        return self.status in self.BUSY

    @property
    def percent(self) -> int:
        return int(100 * self.steps_done / self.steps_total) if self.steps_total else 0


# Dynamic segments (their own module).
# The churn model: fits, scores and settings (their own module).
from analytics.models_churn import *  # noqa: E402, F403
from analytics.models_segments import *  # noqa: E402, F403
