"""The loyalty programme: its rules, point accounts, the append-only ledger, FIFO lots, tiers,
rewards, redemptions, adjustments awaiting approval, and what reconciliation found.

Invariants the services keep (and reconciliation checks): an account's `balance` is the sum of
its ledger entries' points and the sum of its lots' `remaining`; a lot's `remaining` is its
points less what LotUse rows took from it. Every change happens under the account's row lock,
in the transaction that writes the entry."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import User
from customers.models import Customer


class Programme(models.Model):
    """The tenant's programme: one row (id 1), made by the migration with defaults that work."""

    class TierBasis(models.TextChoices):
        POINTS = "points", _("Qualifying points")
        SPEND = "spend", _("Spend")

    points_per_unit = models.DecimalField(
        _("points per currency unit"),
        max_digits=8,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    expiry_months = models.PositiveSmallIntegerField(
        _("points expire after (months)"), default=24, validators=[MinValueValidator(1)]
    )
    tier_basis = models.CharField(
        _("tiers by"), max_length=10, choices=TierBasis.choices, default=TierBasis.POINTS
    )
    tier_window_months = models.PositiveSmallIntegerField(
        _("tier window (months)"), default=12, validators=[MinValueValidator(1)]
    )
    downgrade_grace_days = models.PositiveIntegerField(
        _("grace days before a downgrade"), default=30
    )
    adjustment_limit = models.PositiveIntegerField(
        _("adjustments above this many points need approval"), default=500
    )
    signup_bonus = models.PositiveIntegerField(_("sign-up bonus"), default=0)
    birthday_bonus = models.PositiveIntegerField(_("birthday bonus"), default=0)
    referral_bonus = models.PositiveIntegerField(_("referral bonus"), default=100)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="loyalty_programme_single")]

    def __str__(self) -> str:
        return str(_("Loyalty programme"))


class EarnRule(models.Model):
    """A multiplier for orders of a channel and/or store, optionally only between two dates
    (a promotion: "double points weekend"). Of the rules an order matches, the highest
    multiplier applies (then the tier's)."""

    name = models.CharField(_("name"), max_length=100)
    channel = models.CharField(_("channel"), max_length=50, blank=True)
    store = models.CharField(_("store"), max_length=100, blank=True)
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    starts_on = models.DateField(_("from"), null=True, blank=True)
    ends_on = models.DateField(_("until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__gte=0), name="loyalty_earnrule_multiplier"
            ),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True)
                | Q(ends_on__isnull=True)
                | Q(starts_on__lte=F("ends_on")),
                name="loyalty_earnrule_dates",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Tier(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    position = models.PositiveSmallIntegerField(_("order"), unique=True)
    # Qualifying points or whole currency units over the window, by Programme.tier_basis.
    threshold = models.PositiveIntegerField(_("threshold"))
    multiplier = models.DecimalField(
        _("earn multiplier"), max_digits=5, decimal_places=2, default=Decimal("1")
    )
    benefits = models.TextField(_("benefits"), blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gte=0), name="loyalty_tier_multiplier")
        ]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, related_name="loyalty_account"
    )
    # The cached sum of the ledger; changed only with an entry, under this row's lock.
    balance = models.IntegerField(_("balance"), default=0)
    tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="accounts"
    )
    tier_since = models.DateField(_("tier since"), null=True, blank=True)
    # Qualifying points (or spend) over the tier window: exact after each nightly evaluation
    # (loyalty.tiers), raised and lowered by orders in between, so an upgrade needs no sum.
    qualifying_points = models.BigIntegerField(_("qualifying points"), default=0)
    # The day evaluation first found the account below its tier; a downgrade waits the grace.
    below_tier_since = models.DateField(null=True, blank=True)
    referral_code = models.CharField(_("referral code"), max_length=40, unique=True)
    referred_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="referrals"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="loyalty_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(referred_by=F("id")), name="loyalty_account_not_self_referred"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.customer_id}: {self.balance}"


class Adjustment(models.Model):
    """A manual grant or deduction. Above the programme's limit it waits for a second user."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="adjustments")
    points = models.IntegerField(_("points"))
    reason = models.TextField(_("reason"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    requested_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="loyalty_adjustment_not_zero"),
            models.CheckConstraint(condition=~Q(reason=""), name="loyalty_adjustment_reason"),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="loyalty_adjustment_pending",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.points:+d}"


class Reward(models.Model):
    name = models.CharField(_("name"), max_length=200)
    points_cost = models.PositiveIntegerField(_("points"), validators=[MinValueValidator(1)])
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True)  # None: unlimited
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    per_customer_limit = models.PositiveIntegerField(_("per customer"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["points_cost", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="loyalty_reward_cost"),
        ]

    def __str__(self) -> str:
        return self.name


class LedgerEntry(models.Model):
    """One movement of points. Rows are never deleted, and their amounts never change (a
    trigger of migration 0001 refuses it); only the account (a merge) and the note (erasure)
    may be rewritten."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REDEEM = "redeem", _("Redeemed")
        REDEEM_CANCEL = "redeem_cancel", _("Redemption cancelled")
        ADJUST = "adjust", _("Adjusted")
        EXPIRE = "expire", _("Expired")
        REVERSE = "reverse", _("Order reversed")
        BONUS = "bonus", _("Bonus")

    class Bonus(models.TextChoices):
        SIGNUP = "signup", _("Sign-up bonus")
        BIRTHDAY = "birthday", _("Birthday bonus")
        REFERRAL = "referral", _("Referral bonus")

    # Indexed by loyalty_entry_account (account first): no index of its own.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=14, choices=Kind.choices)
    bonus = models.CharField(_("bonus"), max_length=10, choices=Bonus.choices, blank=True)
    points = models.IntegerField(_("points"))
    # Toward the tier: an earn's points (or, on the spend basis, the order's whole currency
    # units); a reversal takes back its earn's.
    qualifying = models.IntegerField(default=0)
    # A reversal's points that could not be taken back (already spent).
    shortfall = models.PositiveIntegerField(_("shortfall"), default=0)
    # The order an earn or reverse is for: no foreign key, so that the ledger keeps its rows
    # when an import that created the order is undone (the points are reversed first).
    order_id = models.BigIntegerField(null=True, blank=True)
    # Rare links: partial indexes below instead of one entry per row in each (every import
    # writes a million entries without them).
    redemption = models.ForeignKey(
        "Redemption",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        db_index=False,
    )
    adjustment = models.ForeignKey(
        Adjustment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        db_index=False,
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    # When it happened for the member (an order's time for an earn), and when it was written.
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order_id"], condition=Q(kind="earn"), name="loyalty_one_earn_per_order"
            ),
            models.UniqueConstraint(
                fields=["order_id"],
                condition=Q(kind="reverse"),
                name="loyalty_one_reverse_per_order",
            ),
            # Partial: most entries (an order's earn) have no key.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="loyalty_entry_idempotency_key",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["earn", "reverse"]) | Q(order_id__isnull=False),
                name="loyalty_order_entry_has_order",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["earn", "bonus", "redeem_cancel"]) | Q(points__gte=0),
                name="loyalty_credit_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["redeem", "expire", "reverse"]) | Q(points__lte=0),
                name="loyalty_debit_not_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-occurred_at", "-id"], name="loyalty_entry_account"),
            models.Index(
                fields=["redemption"],
                name="loyalty_entry_redemption",
                condition=Q(redemption__isnull=False),
            ),
            models.Index(
                fields=["adjustment"],
                name="loyalty_entry_adjustment",
                condition=Q(adjustment__isnull=False),
            ),
            models.Index(
                fields=["actor"], name="loyalty_entry_actor", condition=Q(actor__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d}"


class Lot(models.Model):
    """Points credited together that expire together; spent oldest expiry first."""

    # No database foreign keys here: an import's commit writes a lot per earned order, and
    # each key check costs as much as the insert (bench/loyalty.py). A lot is only ever
    # written beside its entry, in the statement that writes the entry; accounts and entries
    # are never deleted (the ledger guard; a merge moves lots first); and the nightly
    # reconciliation checks that every account's lots add up.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="lots", db_constraint=False
    )
    entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, related_name="lot", db_constraint=False
    )
    points = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    expires_on = models.DateField(_("expires"), null=True, blank=True)  # None: never
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["expires_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("points")),
                name="loyalty_lot_remaining",
            ),
        ]
        indexes = [
            # Open lots: what redemption, reversal and expiry read.
            models.Index(
                fields=["account", "expires_on", "id"],
                name="loyalty_lot_open",
                condition=Q(remaining__gt=0),
            ),
            models.Index(
                fields=["expires_on"], name="loyalty_lot_expiring", condition=Q(remaining__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points} → {self.expires_on}"


class LotUse(models.Model):
    """Points an entry took from (positive) or gave back to (negative) a lot."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="lot_uses")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="uses")
    points = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["lot"], name="loyalty_lotuse_lot")]

    def __str__(self) -> str:
        return f"{self.points} of lot {self.lot_id}"


class Redemption(models.Model):
    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="redemptions")
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="redemptions"
    )
    points = models.PositiveIntegerField(_("points"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.COMPLETED
    )
    note = models.TextField(_("note"), blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(_("redeemed"), default=timezone.now)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="loyalty_redemption_points"),
        ]
        indexes = [models.Index(fields=["account", "reward"], name="loyalty_redemption_reward")]

    def __str__(self) -> str:
        return f"{self.points} ({self.status})"


class TierChange(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    qualifying = models.BigIntegerField(_("qualifying"))
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["account", "-at"], name="loyalty_tierchange_account")]

    def __str__(self) -> str:
        return f"{self.from_tier_id} → {self.to_tier_id}"


class ReconciliationIssue(models.Model):
    """A mismatch the nightly reconciliation found; it stays until someone resolves it."""

    class Kind(models.TextChoices):
        BALANCE = "balance", _("Balance differs from the ledger")
        LOTS = "lots", _("Lots do not add up to the balance")
        LOT_USES = "lot_uses", _("A lot's remaining points differ from its uses")

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="reconciliation_issues"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    expected = models.BigIntegerField(_("expected"))
    found = models.BigIntegerField(_("found"))
    found_at = models.DateTimeField(_("found"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        ordering = ["-found_at", "-id"]
        constraints = [
            # A later run finding the same mismatch adds nothing.
            models.UniqueConstraint(
                fields=["account", "kind", "expected", "found"],
                condition=Q(resolved_at__isnull=True),
                name="loyalty_issue_open_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.expected} ≠ {self.found}"
