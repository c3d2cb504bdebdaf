"""The tenant's support mail settings: the address replies come from and the secret in the
inbound address (`/inbound/email/<secret>`), rotated by administrators."""

import hmac
import secrets
from email.utils import formataddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.contacts import email_normalise
from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_site_url
from support.models_mail import MailSettings


def mail_settings() -> MailSettings:
    """The row, or an unsaved one with the defaults before anyone saved or rotated."""
    return MailSettings.objects.filter(pk=1).first() or MailSettings(pk=1)


def current_tenant() -> Tenant:
    """The tenant of the current schema: the row a request or task carries, else read."""
    schema = current_schema()
    carried = getattr(connection, "tenant", None)
    if isinstance(carried, Tenant) and carried.schema_name == schema:
        return carried
    return Tenant.objects.get(schema_name=schema)


def default_from_address(tenant: Tenant) -> str:
    return f"support@{tenant.slug}.{settings.CRM_BASE_DOMAIN}"


def from_header(tenant: Tenant, row: MailSettings | None = None) -> str:
    """The From header of replies: the tenant's support address (a setting) with its name."""
    row = row or mail_settings()
    address = row.from_address or default_from_address(tenant)
    return formataddr((row.from_name or tenant.name, address))


def from_shown(tenant: Tenant, row: MailSettings | None = None) -> str:
    """The same sender as people read it: `Name <address>`, the name as written (the header
    itself encodes a Chinese name as =?utf-8?b?...?=)."""
    row = row or mail_settings()
    address = row.from_address or default_from_address(tenant)
    return f"{row.from_name or tenant.name} <{address}>"


def _locked_row() -> MailSettings:
    MailSettings.objects.get_or_create(pk=1)
    return MailSettings.objects.select_for_update().get(pk=1)


@writes
@transaction.atomic
def mail_settings_save(*, actor: User | None, from_address: str, from_name: str) -> MailSettings:
    """The sender of replies (blank address: support@<slug>.<base domain>)."""
    address = email_normalise(from_address)
    name = " ".join(from_name.split())
    if len(name) > 100:
        raise ValidationError({"from_name": _("At most 100 characters.")})
    row = _locked_row()
    row.from_address = address
    row.from_name = name
    row.full_clean(exclude=["inbound_secret"])
    row.save()
    return row


@writes
@transaction.atomic
def inbound_secret_rotate(*, actor: User | None) -> str:
    """A new random secret: the old inbound address stops working at once."""
    row = _locked_row()
    row.inbound_secret = secrets.token_urlsafe(32)
    row.inbound_secret_rotated_at = timezone.now()
    row.save()
    return row.inbound_secret


@writes
@transaction.atomic
def inbound_secret_ensure(*, actor: User | None) -> str:
    """The secret, made the first time it is asked for."""
    row = _locked_row()
    if not row.inbound_secret:
        row.inbound_secret = secrets.token_urlsafe(32)
        row.inbound_secret_rotated_at = timezone.now()
        row.save()
    return row.inbound_secret


def inbound_secret_matches(given: str) -> bool:
    """Whether `given` is the tenant's secret, compared in constant time; never without one."""
    secret = MailSettings.objects.filter(pk=1).values_list("inbound_secret", flat=True).first()
    if not secret:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def inbound_url(tenant: Tenant, secret: str) -> str:
    path = reverse("inbound_email", urlconf="crm.urls_tenant", kwargs={"secret": secret})
    return tenant_site_url(tenant) + path
