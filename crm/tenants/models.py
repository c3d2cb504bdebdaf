import re
import uuid
import zoneinfo

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.dispatch import Signal
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin

SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$"
# Host names that must never become tenants: they belong to the platform or mislead users.
RESERVED_SLUGS = frozenset(
    {
        "www",
        "api",
        "admin",
        "app",
        "static",
        "media",
        "mail",
        "smtp",
        "public",
        "template",
        "platform",
        "console",
        "status",
        "help",
        "support",
        "billing",
        "login",
        "auth",
    }
)
CURRENCIES = ("CNY", "USD", "EUR", "GBP", "HKD", "TWD", "JPY", "SGD", "AUD", "CAD")


def validate_slug_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(_("“%(slug)s” is reserved; choose another."), params={"slug": value})
    # "xn--..." is how a browser writes a Unicode host name (punycode): such a slug would show
    # as look-alike letters (аcme with a Cyrillic а). IDNA reserves every "??--" label.
    if value[2:4] == "--":
        raise ValidationError(
            _("A slug may not have hyphens as its third and fourth characters (“%(slug)s”)."),
            params={"slug": value},
        )


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(tz)s” is not a known time zone."), params={"tz": value})


def validate_phone_region(value: str) -> None:
    import phonenumbers

    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            _("“%(code)s” is not a country code such as CN."), params={"code": value}
        )


def new_files_key() -> str:
    """A tenant's file folder name: random, so no later tenant (a re-used slug, a restored
    copy) can ever land in an earlier one's files."""
    return uuid.uuid4().hex


def schema_name_for_slug(slug: str) -> str:
    """Schema names are prefixed so no slug can collide with public, pg_* or information_schema."""
    return "t_" + re.sub(r"-", "_", slug)


# Sent after a queryset update of tenants or domains, which sends no post_save (status changes
# in crm.tenants.services are such updates): crm.tenants.lookup forgets what it remembers.
tenants_updated = Signal()


class _UpdateSignallingQuerySet(models.QuerySet):
    def update(self, **kwargs: object) -> int:
        updated = super().update(**kwargs)
        tenants_updated.send(sender=self.model)
        return updated


class Tenant(TenantMixin):
    """A business using the CRM. Its data lives in its own schema, `schema_name`."""

    objects = _UpdateSignallingQuerySet.as_manager()

    class Status(models.TextChoices):
        PROVISIONING = "provisioning", _("Provisioning")
        READY = "ready", _("Ready")
        SUSPENDED = "suspended", _("Suspended")
        FAILED = "failed", _("Provisioning failed")
        # The public tenant and the template schema are rows too (django-tenants needs them),
        # but they are nobody's business and never listed as tenants.
        SYSTEM = "system", _("System")

    class Language(models.TextChoices):
        EN = "en", _("English")
        ZH_HANS = "zh-hans", _("Simplified Chinese")

    slug = models.CharField(
        _("slug"),
        max_length=30,
        unique=True,
        validators=[
            RegexValidator(
                SLUG_PATTERN,
                _("Use 3–30 lower-case letters, digits and hyphens, starting with a letter."),
            ),
            validate_slug_not_reserved,
        ],
        help_text=_("Becomes the site address: <slug>.<base domain>."),
    )
    name = models.CharField(_("name"), max_length=200)
    owner_email = models.EmailField(_("owner admin email"), blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=Language.choices, default=Language.EN
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    currency = models.CharField(
        _("currency"), max_length=3, default="CNY", choices=[(c, c) for c in CURRENCIES]
    )
    phone_region = models.CharField(
        _("phone region"),
        max_length=2,
        default="CN",
        validators=[validate_phone_region],
        help_text=_("Country whose numbers may be written without a country code, e.g. CN."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PROVISIONING
    )
    status_detail = models.TextField(_("status detail"), blank=True)
    # Names the tenant's private file folder (crm.tenants.files). Never changes, never copied:
    # an imported archive's tenant gets a fresh one.
    files_key = models.CharField(max_length=32, unique=True, default=new_files_key, editable=False)
    # The files_keys of the tenants this one was restored from, nearest first (crm.tenants.
    # archive): erasures remembered under any of them are made again here (ErasureRecord).
    lineage = ArrayField(models.CharField(max_length=32), default=list, blank=True, editable=False)
    # Plan limits set by operators; None means unlimited.
    staff_limit = models.PositiveIntegerField(_("staff limit"), null=True, blank=True, default=25)
    customer_limit = models.PositiveIntegerField(_("customer limit"), null=True, blank=True)
    storage_limit_mb = models.PositiveIntegerField(
        _("storage limit (MB)"), null=True, blank=True, default=1024
    )
    require_two_factor = models.BooleanField(
        _("require two-factor sign-in for all staff"),
        default=False,
        help_text=_("Admins always need it; this extends it to everyone."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    ready_at = models.DateTimeField(_("ready since"), null=True, blank=True)
    suspended_at = models.DateTimeField(_("suspended since"), null=True, blank=True)

    # Schemas are created by the provisioning task (by cloning the template), never on save().
    auto_create_schema = False
    auto_drop_schema = True

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["provisioning", "ready", "suspended", "failed", "system"]
                ),
                name="tenant_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.READY


class Domain(DomainMixin):
    """Host name routed to a tenant; the primary one is <slug>.<base domain>."""

    objects = _UpdateSignallingQuerySet.as_manager()


class TenantEvent(models.Model):
    """What happened to a tenant and who did it: the platform's own history, kept in public.

    Holds no personal data of the tenant's customers, only the operator's email."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        PROVISIONED = "provisioned", _("Became ready")
        PROVISIONING_FAILED = "provisioning_failed", _("Provisioning failed")
        RETRIED = "retried", _("Provisioning retried")
        SUSPENDED = "suspended", _("Suspended")
        RESUMED = "resumed", _("Resumed")
        LIMITS_CHANGED = "limits_changed", _("Plan limits changed")
        EXPORTED = "exported", _("Exported to an archive")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    actor = models.CharField(_("by"), max_length=254, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.tenant.slug} {self.action} {self.at:%Y-%m-%d %H:%M}"


class ErasureRecord(models.Model):
    """That customers of a tenant were erased, remembered outside its schema: restoring an
    archive made before the erasure erases them again (crm.tenants.erasures), so a backup never
    brings an erased person back. Ids, creation times and keys only, nothing personal; kept
    after the tenant is deleted, since its archives may outlive it."""

    # The files_key of the tenant the erasure happened in, then its lineage: the family of
    # copies whose records may be the same person.
    tenant_keys = ArrayField(models.CharField(max_length=32))
    tenant_slug = models.CharField(max_length=63)  # for people reading the table
    # [[customer id, created_at in ISO 8601], ...]: copies that went their own way reuse ids,
    # so an id names the same record in a copy only with the same creation time.
    customers = models.JSONField()
    erased_at = models.DateTimeField()

    class Meta:
        ordering = ["erased_at", "id"]
        indexes = [GinIndex(fields=["tenant_keys"], name="erasure_record_keys")]

    def __str__(self) -> str:
        return f"{self.tenant_slug}: {len(self.customers)} erased {self.erased_at:%Y-%m-%d %H:%M}"
