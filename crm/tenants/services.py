"""Writes to the platform: creating, provisioning, suspending and deleting tenants.

Everything here runs in the public schema; provisioning briefly enters the new tenant's schema.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context, schema_exists

from crm.lib.audit_actor import actor_label, writes
from crm.lib.columns import check_columns
from crm.lib.tenancy import in_public_schema
from crm.tenants.cloning import schema_clone
from crm.tenants.files import tenant_files_remove
from crm.tenants.models import Domain, Tenant, TenantEvent, schema_name_for_slug

if TYPE_CHECKING:
    # Type only: platform operators are crm.accounts users, and crm.tenants sits below it.
    from crm.accounts.models import User

logger = logging.getLogger(__name__)

TEMPLATE_SLUG = "tenant-template"


def tenant_host(slug: str) -> str:
    return f"{slug}.{settings.CRM_BASE_DOMAIN}"


def platform_prepare() -> Tenant:
    """Make sure the public tenant (the console's host) and the migrated template schema exist.

    Idempotent; `migrate_schemas` keeps the template current because it is a tenant row."""
    public, _created = Tenant.objects.get_or_create(
        schema_name=settings.PUBLIC_SCHEMA_NAME,
        defaults={"slug": "public", "name": "Platform", "status": Tenant.Status.SYSTEM},
    )
    Domain.objects.get_or_create(
        domain=settings.CRM_BASE_DOMAIN, defaults={"tenant": public, "is_primary": True}
    )
    template, _created = Tenant.objects.get_or_create(
        schema_name=settings.CRM_TEMPLATE_SCHEMA,
        defaults={"slug": TEMPLATE_SLUG, "name": "Template", "status": Tenant.Status.SYSTEM},
    )
    if not schema_exists(template.schema_name):
        # No template to clone from yet: this one is built by running the migrations.
        template.create_schema(check_if_exists=True, verbosity=0)
    return template


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    owner_email: str
    language: str = Tenant.Language.EN
    time_zone: str = "UTC"
    currency: str = "CNY"


# Operator-set plan limits: copied with a tenant when it is exported and imported.
PLAN_FIELDS = ("staff_limit", "customer_limit", "storage_limit_mb", "require_two_factor")


def tenant_build(*, spec: TenantSpec, plan: Mapping[str, Any] | None = None) -> Tenant:
    """A validated, unsaved tenant row in status provisioning.

    Refuses an invalid, reserved or taken slug, and one whose schema exists already (a stray
    or half-restored schema must never be adopted by a new tenant)."""
    slug = spec.slug.strip().lower()
    tenant = Tenant(
        slug=slug,
        schema_name=schema_name_for_slug(slug),
        name=spec.name.strip(),
        owner_email=spec.owner_email.strip().lower(),
        language=spec.language,
        time_zone=spec.time_zone,
        currency=spec.currency,
        status=Tenant.Status.PROVISIONING,
    )
    for field, value in (plan or {}).items():
        if field not in PLAN_FIELDS:
            raise ValidationError(_("“%(field)s” is not a plan limit."), params={"field": field})
        setattr(tenant, field, value)
    tenant.full_clean()
    if schema_exists(tenant.schema_name, case_sensitive=False):
        raise ValidationError({"slug": _("A schema for this slug already exists.")})
    return tenant


@writes
def tenant_create(*, actor: User | None, spec: TenantSpec, provision_async: bool = True) -> Tenant:
    """Register a tenant and have it provisioned.

    With provision_async (the console) a worker clones the schema after commit, and the owner
    gets an email to set a password. The CLI provisions inline instead."""
    tenant = tenant_build(spec=spec)
    with transaction.atomic():
        tenant.save()
        Domain.objects.create(domain=tenant_host(tenant.slug), tenant=tenant, is_primary=True)
        TenantEvent.objects.create(
            tenant=tenant, action=TenantEvent.Action.CREATED, actor=actor_label(actor)
        )
        if provision_async:
            from crm.tenants.tasks import tenant_provision_task

            tenant_id = tenant.pk
            transaction.on_commit(lambda: tenant_provision_task.delay(tenant_id))
    return tenant


@writes
def tenant_provision(
    *, actor: User | None, tenant_id: int, owner_password: str | None = None
) -> Tenant:
    """Clone the template schema into the tenant's own, create its owner, and mark it ready.

    Idempotent and safe to run twice at once (a redelivered task beside a retry): the tenant
    row is locked for the whole run, so the second waits and then finds the tenant ready."""
    assert in_public_schema(), "provisioning runs from the public schema"
    started = time.monotonic()
    try:
        with transaction.atomic():
            tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
            if tenant.status != Tenant.Status.PROVISIONING:
                return tenant
            if not schema_exists(tenant.schema_name):
                schema_clone(template=settings.CRM_TEMPLATE_SCHEMA, target=tenant.schema_name)
            _check_schema_complete(tenant.schema_name)
            owner = None
            if tenant.owner_email:
                with schema_context(tenant.schema_name):
                    owner = get_user_model().objects.create_tenant_owner(
                        tenant.owner_email, owner_password
                    )
            Tenant.objects.filter(pk=tenant.pk).update(
                status=Tenant.Status.READY, ready_at=timezone.now(), status_detail=""
            )
            TenantEvent.objects.create(
                tenant=tenant,
                action=TenantEvent.Action.PROVISIONED,
                detail=f"ready in {time.monotonic() - started:.1f} s",
            )
            if owner is not None and not owner_password:
                from crm.tenants.tasks import tenant_welcome_email_task

                owner_id = owner.pk
                transaction.on_commit(lambda: tenant_welcome_email_task.delay(tenant_id, owner_id))
    except Exception as exc:
        logger.exception("provisioning tenant %s failed", tenant_id)
        _provisioning_failed(tenant_id=tenant_id, detail=str(exc)[:2000])
        raise
    tenant.refresh_from_db()
    return tenant


@writes
def tenant_register_restored(*, actor: User | None, tenant: Tenant, detail: str) -> Tenant:
    """Save a tenant (from tenant_build) whose schema was restored from an archive: it is ready
    at once, with its domain and its events, in one transaction."""
    if not schema_exists(tenant.schema_name):
        raise ProvisioningError(f"schema {tenant.schema_name} has not been restored")
    _check_schema_complete(tenant.schema_name)
    with transaction.atomic():
        tenant.status = Tenant.Status.READY
        tenant.ready_at = timezone.now()
        tenant.save()
        Domain.objects.create(domain=tenant_host(tenant.slug), tenant=tenant, is_primary=True)
        TenantEvent.objects.create(
            tenant=tenant,
            action=TenantEvent.Action.CREATED,
            actor=actor_label(actor),
            detail=detail,
        )
        TenantEvent.objects.create(
            tenant=tenant, action=TenantEvent.Action.PROVISIONED, detail="restored from an archive"
        )
    return tenant


@transaction.atomic
def _provisioning_failed(*, tenant_id: int, detail: str) -> None:
    failed = Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.PROVISIONING).update(
        status=Tenant.Status.FAILED, status_detail=detail
    )
    if failed:
        TenantEvent.objects.create(
            tenant_id=tenant_id, action=TenantEvent.Action.PROVISIONING_FAILED, detail=detail
        )


class ProvisioningError(Exception):
    pass


def _tables(schema_name: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [schema_name],
        )
        return {row[0] for row in cursor.fetchall()}


def _check_schema_complete(schema_name: str) -> None:
    """Refuse a schema that lacks the template's tables (a stray or half-restored one): writing
    into it would fall through the search path into the public schema's tables."""
    missing = _tables(settings.CRM_TEMPLATE_SCHEMA) - _tables(schema_name)
    if missing:
        raise ProvisioningError(
            f"schema {schema_name} exists but lacks {len(missing)} of the template's tables "
            f"(e.g. {sorted(missing)[0]}); drop it or restore it completely, then retry"
        )


@writes
@transaction.atomic
def tenant_provision_retry(*, actor: User | None, tenant: Tenant) -> Tenant:
    updated = Tenant.objects.filter(pk=tenant.pk, status=Tenant.Status.FAILED).update(
        status=Tenant.Status.PROVISIONING, status_detail=""
    )
    if not updated:
        raise ValidationError(_("Only a tenant whose provisioning failed can be retried."))
    TenantEvent.objects.create(
        tenant=tenant, action=TenantEvent.Action.RETRIED, actor=actor_label(actor)
    )
    from crm.tenants.tasks import tenant_provision_task

    tenant_id = tenant.pk
    transaction.on_commit(lambda: tenant_provision_task.delay(tenant_id))
    tenant.refresh_from_db()
    return tenant


@writes
@transaction.atomic
def tenant_suspend(*, actor: User | None, tenant: Tenant, reason: str = "") -> Tenant:
    """Close the tenant's site: every page shows the suspension notice and nobody can log in."""
    updated = Tenant.objects.filter(pk=tenant.pk, status=Tenant.Status.READY).update(
        status=Tenant.Status.SUSPENDED, suspended_at=timezone.now()
    )
    if not updated:
        raise ValidationError(_("Only a ready tenant can be suspended."))
    TenantEvent.objects.create(
        tenant=tenant, action=TenantEvent.Action.SUSPENDED, actor=actor_label(actor), detail=reason
    )
    tenant.refresh_from_db()
    return tenant


@writes
@transaction.atomic
def tenant_resume(*, actor: User | None, tenant: Tenant) -> Tenant:
    updated = Tenant.objects.filter(pk=tenant.pk, status=Tenant.Status.SUSPENDED).update(
        status=Tenant.Status.READY, suspended_at=None
    )
    if not updated:
        raise ValidationError(_("Only a suspended tenant can be resumed."))
    TenantEvent.objects.create(
        tenant=tenant, action=TenantEvent.Action.RESUMED, actor=actor_label(actor)
    )
    tenant.refresh_from_db()
    return tenant


@writes
@transaction.atomic
def tenant_limits_set(
    *,
    actor: User | None,
    tenant: Tenant,
    staff_limit: int | None,
    customer_limit: int | None,
    storage_limit_mb: int | None,
    require_two_factor: bool,
) -> Tenant:
    """Change a tenant's plan limits. Lowering a limit below current use blocks new staff,
    customers or files; it never removes any."""
    check_columns(
        Tenant,
        {"staff_limit": staff_limit, "customer_limit": customer_limit}
        | {"storage_limit_mb": storage_limit_mb},
    )
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = {
        "staff_limit": tenant.staff_limit,
        "customer_limit": tenant.customer_limit,
        "storage_limit_mb": tenant.storage_limit_mb,
        "require_two_factor": tenant.require_two_factor,
    }
    after = {
        "staff_limit": staff_limit,
        "customer_limit": customer_limit,
        "storage_limit_mb": storage_limit_mb,
        "require_two_factor": require_two_factor,
    }
    if before == after:
        return tenant
    for field, value in after.items():
        setattr(tenant, field, value)
    tenant.save(update_fields=list(after))
    changes = ", ".join(f"{k}: {before[k]} → {after[k]}" for k in after if before[k] != after[k])
    TenantEvent.objects.create(
        tenant=tenant,
        action=TenantEvent.Action.LIMITS_CHANGED,
        actor=actor_label(actor),
        detail=changes,
    )
    return tenant


@writes
@transaction.atomic
def tenant_two_factor_require(*, actor: User | None, tenant: Tenant, required: bool) -> Tenant:
    """A tenant admin's choice to require two-factor sign-in of all their staff (admins always
    need it). Recorded in the tenant's history, which operators see."""
    updated = (
        Tenant.objects.filter(pk=tenant.pk)
        .exclude(require_two_factor=required)
        .update(require_two_factor=required)
    )
    if updated:
        TenantEvent.objects.create(
            tenant=tenant,
            action=TenantEvent.Action.LIMITS_CHANGED,
            actor=actor_label(actor),
            detail=f"require_two_factor: {not required} → {required}",
        )
    tenant.refresh_from_db()
    return tenant


@writes
def tenant_delete(*, actor: User | None, tenant: Tenant) -> None:
    """Drop the tenant's schema, every row about it and its private files. Irreversible."""
    if tenant.status == Tenant.Status.SYSTEM:
        raise ValidationError(_("System tenants cannot be deleted."))
    logger.warning("tenant %s deleted by %s", tenant.slug, actor_label(actor))
    with transaction.atomic():
        tenant.delete(force_drop=True)
        # Once the drop is committed: the files must not outlive the rows that name them,
        # and a rolled-back delete must keep them.
        transaction.on_commit(lambda: tenant_files_remove(tenant))
