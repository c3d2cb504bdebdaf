"""The fixed cast every test can name: two tenants, and in each one staff member per preset role."""

from dataclasses import dataclass, field

from django.conf import settings
from django_tenants.utils import schema_context

from crm.accounts import roles
from crm.accounts.models import User
from crm.accounts.services import staff_create
from crm.tenants import services
from crm.tenants.models import Tenant

PASSWORD = "correct-horse-battery"
ROLES = {
    "admin": roles.ADMIN,
    "manager": roles.MANAGER,
    "agent": roles.AGENT,
    "marketing": roles.MARKETING,
    "viewer": roles.VIEWER,
}
TENANTS = {
    "acme": ("Acme Trading", "en", "Europe/London", "GBP"),
    "globex": ("环球零售 Globex", "zh-hans", "Asia/Shanghai", "CNY"),
}


@dataclass
class TenantCast:
    tenant: Tenant
    users: dict[str, User] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"{self.tenant.slug}.{settings.CRM_BASE_DOMAIN}"

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def email(self, role: str) -> str:
        return f"{role}@{self.tenant.slug}.test"

    def __getattr__(self, role: str) -> User:
        try:
            return self.__dict__["users"][role]
        except KeyError:
            raise AttributeError(role) from None


def build_cast() -> dict[str, TenantCast]:
    """Create acme and globex by the real provisioning path, then their staff."""
    services.platform_prepare()
    cast = {}
    for slug, (name, language, time_zone, currency) in TENANTS.items():
        tenant = services.tenant_create(
            actor=None,
            spec=services.TenantSpec(
                slug=slug,
                name=name,
                owner_email=f"owner@{slug}.test",
                language=language,
                time_zone=time_zone,
                currency=currency,
            ),
            provision_async=False,
        )
        tenant = services.tenant_provision(actor=None, tenant_id=tenant.pk, owner_password=PASSWORD)
        members = TenantCast(tenant=tenant)
        with schema_context(tenant.schema_name):
            for key, role in ROLES.items():
                members.users[key] = staff_create(
                    actor=None,
                    email=members.email(key),
                    full_name=f"{slug} {key}",
                    role=role,
                    password=PASSWORD,
                )
        cast[slug] = members
    return cast
