"""The churn model's tables: the tenant's churn settings, each refresh's fit (with its holdout
check), and each customer's latest scores and flags (analytics.churn writes them)."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer

__all__ = ["ChurnFit", "ChurnScore", "ChurnSettings", "ValueTier"]


class ChurnSettings(models.Model):
    """One row (pk 1): the thresholds of the churn flags and when the model is worth fitting."""

    p_alive_threshold = models.DecimalField(
        _("P(alive) below which a customer is flagged"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.300"),
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("0.999"))],
    )
    gap_multiple = models.DecimalField(
        _("flag after this many usual gaps without a purchase"),
        max_digits=4,
        decimal_places=1,
        default=Decimal("3.0"),
        validators=[MinValueValidator(Decimal("1.0")), MaxValueValidator(Decimal("99.9"))],
    )
    gap_min_gaps = models.PositiveSmallIntegerField(
        _("gaps between purchase days needed to know the usual gap"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    points_expiry_days = models.PositiveSmallIntegerField(
        _("flag points expiring within this many days"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
    )
    min_customers = models.PositiveIntegerField(
        _("fewest customers with purchases to fit the model"),
        default=200,
        validators=[MinValueValidator(10), MaxValueValidator(10_000_000)],
    )
    min_repeaters = models.PositiveIntegerField(
        _("fewest repeat customers to fit the model"),
        default=50,
        validators=[MinValueValidator(5), MaxValueValidator(10_000_000)],
    )
    holdout_days = models.PositiveSmallIntegerField(
        _("days held out to check the model"),
        default=90,
        validators=[MinValueValidator(7), MaxValueValidator(730)],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("churn settings")
        verbose_name_plural = _("churn settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="churn_settings_one_row")]

    def __str__(self) -> str:
        return "churn settings"


class ChurnFit(models.Model):
    """One refresh of the churn model: the fit on all data up to `as_of` (or why there is
    none), and the holdout check (a second fit ending `holdout_days` earlier)."""

    class Status(models.TextChoices):
        FITTED = "fitted", _("Fitted")
        SKIPPED = "skipped", _("Skipped: too little data")
        FAILED = "failed", _("Skipped: the fit did not converge")

    as_of = models.DateField(_("as of"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    # Why the model was skipped, as a code and its numbers (analytics.churn.skip_reason).
    skip_reason = models.JSONField(default=dict, blank=True)
    r = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    a = models.FloatField(null=True, blank=True)
    b = models.FloatField(null=True, blank=True)
    log_likelihood = models.FloatField(_("log-likelihood"), null=True, blank=True)
    iterations = models.PositiveIntegerField(default=0)
    # The data: customers with a completed order, those with a repeat purchase day, the first
    # and last purchase day, the number of unique (x, t_x, T) rows the fit ran on.
    customers = models.PositiveIntegerField(_("customers"), default=0)
    repeaters = models.PositiveIntegerField(_("repeat customers"), default=0)
    first_purchase_day = models.DateField(null=True, blank=True)
    last_purchase_day = models.DateField(null=True, blank=True)
    unique_rows = models.PositiveIntegerField(default=0)
    # {"calibration_end", "days", "status", "params", "rows": [[frequency label, customers,
    # actual mean, expected mean], ...]}; {} when there was no data for it.
    holdout = models.JSONField(default=dict, blank=True)
    # The value-tier cut points of expected value: {"high": ..., "middle": ...}.
    tier_cuts = models.JSONField(default=dict, blank=True)
    flagged = models.PositiveIntegerField(_("flagged customers"), default=0)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-computed_at", "-id"]
        get_latest_by = ["computed_at", "id"]
        indexes = [models.Index(fields=["-computed_at", "-id"], name="churnfit_latest")]

    def __str__(self) -> str:
        return f"{self.as_of} {self.status}"


class ValueTier(models.TextChoices):
    HIGH = "high", _("High value")
    MIDDLE = "middle", _("Middle value")
    LOW = "low", _("Low value")


class ChurnScore(models.Model):
    """A customer's latest churn scores: replaced as a whole by each refresh. Customers with a
    completed order are scored by the model (when fitted); customers with a flag have a row
    even without orders."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="churn_score")
    as_of = models.DateField()
    # The model's (None when it was skipped, or for customers without a completed order).
    p_alive = models.FloatField(_("P(alive)"), null=True, blank=True)
    expected_purchases_90d = models.FloatField(
        _("expected purchases in 90 days"), null=True, blank=True
    )
    expected_value = models.DecimalField(
        _("expected value in 90 days"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    value_tier = models.CharField(
        _("value tier"), max_length=6, choices=ValueTier.choices, blank=True
    )
    # The purchase history the model read: repeat purchase days, weeks of recency and age.
    frequency = models.PositiveIntegerField(default=0)
    recency_weeks = models.FloatField(default=0)
    age_weeks = models.FloatField(default=0)
    # [{"code": rule code, <its numbers>}, ...] (analytics.churn_rules).
    flags = models.JSONField(default=list, blank=True)
    # The churn-risk list's order (1 = most at risk) for keyset pagination; None: no flag.
    risk_rank = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["risk_rank"],
                name="churnscore_risk_rank",
                condition=Q(risk_rank__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.customer_id}: {self.p_alive}"
