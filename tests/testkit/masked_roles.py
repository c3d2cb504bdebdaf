"""Custom roles without "see personal data", which the preset cast does not have: tests that
need them add them inside their own transaction (so the fixed cast stays as it is).

- editor: views, adds and changes customers (the form gives them masks, not values);
- steward: administers, imports and exports, and so reaches the Django admin, the import
  results and other people's exports."""

import uuid

from django.test import Client
from django_tenants.utils import schema_context

from crm.accounts import capabilities as cap
from crm.accounts.models import User
from crm.accounts.security import two_factor_required
from crm.accounts.services import role_create, staff_create
from crm.tenants.models import Tenant
from tests.testkit.cast import PASSWORD, TenantCast
from tests.testkit.otp import verify_session

MASKED_ROLES: dict[str, tuple[str, ...]] = {
    "editor": (cap.VIEW, cap.CREATE, cap.CHANGE),
    "steward": (cap.VIEW, cap.IMPORT, cap.EXPORT, cap.ADMINISTER),
}


def masked_staff(member: TenantCast, key: str) -> User:
    """A new staff member of `member` whose only role is the custom role `key`."""
    tag = uuid.uuid4().hex[:6]
    with schema_context(member.schema):
        role = role_create(
            actor=None,  # type: ignore[arg-type]
            name=f"{key} {tag}",
            description="",
            scope="all",
            codenames=MASKED_ROLES[key],
        )
        return staff_create(
            actor=None,
            email=f"{key}-{tag}@{member.tenant.slug}.test",
            full_name=f"{member.tenant.slug} {key}",
            role=role,
            password=PASSWORD,
        )


def client_as(member: TenantCast, user: User) -> Client:
    """A client on the tenant's host signed in as `user` (two-factor verified when needed)."""
    client = Client(HTTP_HOST=member.host)
    with schema_context(member.schema):
        user = User.objects.get(pk=user.pk)
        client.force_login(user)
        if two_factor_required(user, Tenant.objects.get(pk=member.tenant.pk)):
            verify_session(client, user)
    return client
