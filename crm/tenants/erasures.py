"""Erasures remembered outside the tenant's schema, and made again on a restored copy.

An archive (crm.tenants.archive) is a copy of the schema as it was: restoring one made before a
customer was erased would bring the person back. So every erasure is also written to the public
ErasureRecord: the erased customer ids with their creation times, under the tenant's files_key
(which no other tenant ever gets) and the keys of the tenants it was restored from
(Tenant.lineage). Restoring an archive erases again, before the tenant is ready, every record
erased in any tenant of the same family (records sharing a key with the archive's lineage:
its source, what that was restored from, and other copies of those) through the same erasure as
the staff UI (crm.lib.erasure's replayer, set by customers). Copies that went their own way
reuse ids, so a record is erased again only when its id and its creation time both match."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

from django.db import connection

from crm.lib.erasure import ErasedRecord, erasure_replay
from crm.tenants.models import ErasureRecord, Tenant


def erasure_remember(records: Sequence[ErasedRecord], at: datetime.datetime) -> None:
    """Record, in the erasing transaction, that these customers of the current tenant were
    erased: (id, created_at) pairs."""
    tenant = _current_tenant()
    ErasureRecord.objects.create(
        tenant_keys=[tenant.files_key, *tenant.lineage],
        tenant_slug=tenant.slug,
        customers=[[pk, created.isoformat()] for pk, created in records],
        erased_at=at,
    )


def _current_tenant() -> Tenant:
    # Requests and tasks carry the tenant row (a restore its unsaved one); schema_context()
    # only its name.
    tenant = getattr(connection, "tenant", None)
    schema = connection.schema_name  # type: ignore[attr-defined]
    if isinstance(tenant, Tenant) and tenant.schema_name == schema and tenant.files_key:
        return tenant
    return Tenant.objects.get(schema_name=schema)


def erased_in_family(lineage: Iterable[str]) -> list[ErasedRecord]:
    """(id, created_at) of every customer erased in a tenant sharing a key with `lineage`,
    oldest erasure first, each once."""
    keys = [key for key in lineage if key]
    found: dict[tuple[int, str], ErasedRecord] = {}
    for record in ErasureRecord.objects.filter(tenant_keys__overlap=keys).only("customers"):
        for pk, created in record.customers:
            found.setdefault((pk, created), (int(pk), datetime.datetime.fromisoformat(created)))
    return list(found.values())


def erasures_replay(lineage: Iterable[str]) -> int:
    """In the current (restored) tenant's schema: erase again every customer erased in its
    family that is here, the same record, and not erased; how many were."""
    records = erased_in_family(lineage)
    return erasure_replay(records) if records else 0
