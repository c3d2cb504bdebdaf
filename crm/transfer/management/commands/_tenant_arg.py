"""The <tenant> argument that import_records and export_records share."""

from django.core.management.base import CommandError
from django.db.models import Q

from crm.tenants import selectors
from crm.tenants.models import Tenant


def tenant_named(name: str) -> Tenant:
    """The business tenant with this slug or schema name; a CommandError naming it otherwise."""
    try:
        return selectors.business_tenants().get(Q(slug=name) | Q(schema_name=name))
    except Tenant.DoesNotExist:
        raise CommandError(f"no tenant with slug or schema {name!r}") from None
