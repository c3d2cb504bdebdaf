"""Customer records and what hangs off them: phones, emails, orders, the timeline, consent."""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.accounts.models import Team, User


class Customer(models.Model):
    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", _("Individual")
        COMPANY = "company", _("Company")

    class Gender(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")

    class Stage(models.TextChoices):
        LEAD = "lead", _("Lead")
        NEW = "new", _("New")
        ACTIVE = "active", pgettext_lazy("lifecycle stage", "Active")
        LOYAL = "loyal", _("Loyal")
        AT_RISK = "at_risk", _("At risk")
        CHURNED = "churned", _("Churned")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.INDIVIDUAL)
    name = models.CharField(_("name"), max_length=200)
    # Lower-cased, NFKC, with pinyin for Chinese names: what lists sort and search on.
    name_sort = models.CharField(max_length=600, editable=False)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(_("province or state"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    tags = ArrayField(
        models.CharField(max_length=50), default=list, blank=True, verbose_name=_("tags")
    )
    source = models.CharField(_("acquisition source"), max_length=100, blank=True)
    channel = models.CharField(_("channel"), max_length=100, blank=True)
    owner = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("team"),
    )
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    stage = models.CharField(
        _("lifecycle stage"), max_length=10, choices=Stage.choices, default=Stage.LEAD
    )
    # Set when staff chose the stage by hand; the nightly derivation leaves it alone then.
    stage_override = models.BooleanField(_("stage set by hand"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    # Values of the tenant's custom fields (CustomField), by key; see customers.custom_fields.
    # The database default keeps COPY-based seeding, which names its columns, working.
    custom = models.JSONField(
        _("custom fields"), default=dict, blank=True, db_default=Value({}, models.JSONField())
    )
    # The language to write to them in (surveys, care messages): one of the site's languages;
    # empty when not known. The database default keeps COPY writers that name their columns
    # (seeding, benchmarks) working.
    language = models.CharField(
        _("preferred language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        default="",
        db_default="",
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="customer_external_id_unique",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="customer_name_not_empty"),
        ]
        indexes = [
            GinIndex(fields=["name_sort"], name="customer_name_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(fields=["tags"], name="customer_tags"),
            models.Index(fields=["name_sort", "id"], name="customer_name_sort_id"),
            models.Index(fields=["owner", "id"], name="customer_owner_id"),
            models.Index(fields=["team", "id"], name="customer_team_id"),
            models.Index(fields=["stage", "id"], name="customer_stage_id"),
            # Equality filters on custom fields: custom @> '{"key": "value"}'.
            GinIndex(fields=["custom"], name="customer_custom", opclasses=["jsonb_path_ops"]),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerPhone(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="phones")
    raw = models.CharField(_("as entered"), max_length=50)
    e164 = models.CharField(_("phone"), max_length=20)
    # E.164 without "+": partial-digit search runs on it through a trigram index.
    digits = models.CharField(max_length=20, editable=False)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "e164"], name="customer_phone_unique"),
        ]
        indexes = [
            models.Index(fields=["e164"], name="customer_phone_e164"),
            GinIndex(fields=["digits"], name="customer_phone_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return self.e164


class CustomerEmail(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField(_("email"))
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "email"], name="customer_email_unique"),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="customer_email_lower"),
        ]
        indexes = [
            models.Index(fields=["email"], name="customer_email_email"),
            GinIndex(fields=["email"], name="customer_email_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return self.email


class Order(models.Model):
    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        REFUNDED = "refunded", _("Refunded")
        CANCELLED = "cancelled", _("Cancelled")

    number = models.CharField(_("order number"), max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    ordered_at = models.DateTimeField(_("date and time"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    item_count = models.PositiveIntegerField(_("items"), default=1)
    channel = models.CharField(_("channel"), max_length=50, blank=True)
    store = models.CharField(_("store"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.COMPLETED
    )

    class Meta:
        ordering = ["-ordered_at", "-id"]
        indexes = [models.Index(fields=["customer", "-ordered_at"], name="order_customer_date")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=Decimal("0")), name="order_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    name = models.CharField(_("item"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"


class Interaction(models.Model):
    """One entry of a customer's timeline: staff's calls, emails, visits and notes, and events
    other apps write through customers.services.timeline_add (ticket opened, points earned...)."""

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        EMAIL = "email", _("Email")
        VISIT = "visit", _("Visit")
        NOTE = "note", _("Note")
        EVENT = "event", _("Event")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    source = models.CharField(_("source"), max_length=30, default="staff")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("details"), blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="interaction_customer_date")
        ]

    def __str__(self) -> str:
        return self.title


class ConsentEvent(models.Model):
    """A grant or withdrawal of consent to contact through a channel. The current state of a
    channel is its latest event; the history stays."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")
        PHONE = "phone", _("Phone")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=100)
    at = models.DateTimeField(_("when"), default=timezone.now)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "channel", "-at"], name="consent_latest")]

    def __str__(self) -> str:
        return f"{self.channel} {'granted' if self.granted else 'withdrawn'}"


class SavedView(models.Model):
    """A user's named customer list: a search and filters to come back to."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="saved_customer_views")
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("query"), max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_per_user"),
        ]

    def __str__(self) -> str:
        return self.name


CUSTOM_FIELD_KEY = r"^[a-z][a-z0-9_]{0,39}$"


class CustomField(models.Model):
    """A field a tenant adds to its customer records. Values live in Customer.custom under the
    key, which never changes; archiving hides the field from forms and keeps the values."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")

    key = models.CharField(
        _("key"),
        max_length=40,
        unique=True,
        validators=[RegexValidator(CUSTOM_FIELD_KEY)],
        help_text=_("Lower-case letters, digits and _, starting with a letter. It cannot change."),
    )
    label = models.CharField(_("label"), max_length=100)
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    choices = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, verbose_name=_("choices")
    )
    required = models.BooleanField(_("required"), default=False)
    # Personal data: masked, and not searchable, for staff without "see personal data".
    personal = models.BooleanField(_("personal data"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(key__regex=CUSTOM_FIELD_KEY), name="custom_field_key_format"
            ),
            models.CheckConstraint(
                condition=Q(kind="choice", choices__len__gt=0)
                | (~Q(kind="choice") & Q(choices__len=0)),
                name="custom_field_choices_only_for_choice",
            ),
            models.CheckConstraint(condition=~Q(label=""), name="custom_field_label_not_empty"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class DuplicatePair(models.Model):
    """Two customers that look like the same person, found by customers.duplicates. The lower id
    is always customer_a; a dismissal ("not duplicates") survives later refreshes."""

    customer_a = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(
        _("score"), validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    # Stable codes: "phone", "email", "name_birthday", "name_city" (see customers.duplicates).
    reasons = ArrayField(models.CharField(max_length=20), default=list, verbose_name=_("reasons"))
    found_at = models.DateTimeField(_("found"), default=timezone.now)
    dismissed_at = models.DateTimeField(_("dismissed"), null=True, blank=True)
    dismissed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer_a", "customer_b"], name="duplicate_pair"),
            models.CheckConstraint(
                condition=Q(customer_a__lt=models.F("customer_b")), name="duplicate_pair_ordered"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=100), name="duplicate_pair_score_range"
            ),
        ]
        indexes = [
            # The queue: open pairs, best first, keyset-paged by (score, id).
            models.Index(
                F("score").desc(),
                F("id").asc(),
                name="duplicate_pair_queue",
                condition=Q(dismissed_at__isnull=True),
            ),
            models.Index(fields=["customer_b"], name="duplicate_pair_b"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_a_id} ~ {self.customer_b_id}"


class CustomerMerge(models.Model):
    """One merge of two customer records, with what is needed to undo it: before-images of both
    records, the ids of the related rows that moved, and the per-field choices."""

    kept = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kept_id_value = models.IntegerField(_("kept customer"))
    dropped_id = models.IntegerField(_("merged customer"))
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    merged_at = models.DateTimeField(_("merged"), default=timezone.now, db_index=True)
    before = models.JSONField(default=dict)
    moved = models.JSONField(default=dict)
    chosen = models.JSONField(default=dict)
    reverted_at = models.DateTimeField(_("reverted"), null=True, blank=True)
    reverted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-merged_at", "-id"]
        indexes = [models.Index(fields=["dropped_id"], name="customer_merge_dropped")]

    def __str__(self) -> str:
        return f"#{self.dropped_id} → #{self.kept_id_value}"


class ListVersion(models.Model):
    """The customer list's data version, which its cached pages are keyed by
    (customers.list_cache). Holds no data of its own: statement triggers (migration 0008)
    stamp a slot with a new sequence value whenever customers, their phones and emails, custom
    field definitions, staff names, team names or team membership change, whoever changes
    them (forms, imports, merges, raw SQL). The version is every slot's stamp, so it changes
    with every such change and never returns to an earlier value; a writer takes a free slot
    and never waits for another."""

    n = models.BigIntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"slot {self.pk}: {self.n}"
