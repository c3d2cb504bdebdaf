"""The application side of the audit log.

Row changes are recorded by database triggers (crm.accounts.audit_sql); this module tells those
triggers who is acting, and records the events that are not row changes: sign-ins, failed
sign-ins, sign-outs, exports."""

import datetime
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

from crm.accounts.models import AuditEntry
from crm.lib.audit_actor import (
    WRITING_SERVICES,
    actor_label,
    actor_values,
    audit_actor,
    system_actor,
    task_actor_begin,
    task_actor_end,
    writes,
)

__all__ = [
    "WRITING_SERVICES",
    "actor_label",
    "audit_actor",
    "system_actor",
    "task_actor_begin",
    "task_actor_end",
    "writes",
]


def client_ip(request: HttpRequest) -> str | None:
    # Behind a proxy, SecurityMiddleware trusts SECURE_PROXY_SSL_HEADER only; REMOTE_ADDR is
    # what the WSGI server saw. Deployments behind a load balancer set it from X-Forwarded-For.
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    actor: Any = None,
    table_name: str = "",
    record_id: str | int = "",
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record an event that is not a row change (a sign-in, an export ...)."""
    actor_id, label, _ip = actor_values(actor, ip)
    return AuditEntry.objects.create(
        action=action,
        actor_id=int(actor_id) if actor_id else None,
        actor_label=label,
        table_name=table_name,
        record_id=str(record_id),
        ip=ip,
        detail=detail or {},
    )


class AuditActorMiddleware:
    """Tell the audit triggers who is acting for the length of each signed-in request that may
    write (every method but GET, HEAD and OPTIONS, which change nothing here); page views are
    spared the two round trips. Connections outlive requests, so the settings are always
    cleared afterwards."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD", "OPTIONS") or not request.user.is_authenticated:
            return self.get_response(request)
        with audit_actor(request.user, ip=client_ip(request)):
            return self.get_response(request)


def record_tenant_export(tenant: Any, actor: str, output: Any) -> None:
    """A whole-tenant archive was made: tell the tenant's admins in their own audit log."""
    from django_tenants.utils import schema_context

    with schema_context(tenant.schema_name):
        audit_record(
            action="personal_data_export",
            actor=actor,
            detail={"scope": "whole workspace", "file": str(getattr(output, "name", output))},
        )


def audit_erasure_begin() -> None:
    """Call inside the transaction that erases a person: until it ends, the triggers record
    which fields change but not their values, and `audit_redact` may blank earlier entries."""
    if not connection.in_atomic_block:
        raise RuntimeError("erasure must run inside a transaction")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('crm.audit_erasing', 'on', true)")


def audit_redact(
    *, table_name: str, record_ids: list[str], owner_key: str = "", owner_id: str = ""
) -> int:
    """Blank the values of earlier entries about the erased records: rows of `table_name` with
    these ids, or (with owner_key) whose before or after row has owner_key = owner_id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_auditentry SET before = crm_audit_redacted(before),"
            " after = crm_audit_redacted(after)"
            " WHERE table_name = %s AND (record_id = ANY(%s)"
            " OR (%s <> '' AND (before->>%s = %s OR after->>%s = %s)))",
            [table_name, record_ids, owner_key, owner_key, owner_id, owner_key, owner_id],
        )
        return cursor.rowcount


def audited_tables() -> list[str]:
    """Every table of the current schema whose rows the audit trigger records, read from the
    database (the triggers the migrations made), so a table added later is never missed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE t.tgname = 'crm_audit' AND NOT t.tgisinternal"
            " AND n.nspname = current_schema() ORDER BY c.relname"
        )
        return [row[0] for row in cursor.fetchall()]


def columns_referencing(table_name: str, target_table: str) -> list[str]:
    """The columns of `table_name` with a foreign key to `target_table` (current schema)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_constraint k"
            " JOIN pg_class c ON c.oid = k.conrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()"
            " JOIN pg_class t ON t.oid = k.confrelid AND t.relnamespace = n.oid"
            " JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)"
            " WHERE k.contype = 'f' AND c.relname = %s AND t.relname = %s ORDER BY a.attname",
            [table_name, target_table],
        )
        return [row[0] for row in cursor.fetchall()]


def audit_redact_mentions(*, table_name: str, columns: list[str], values: list[str]) -> int:
    """Blank every entry about a row of `table_name` that ever had one of `values` in one of
    `columns` (in its before or after image): all the entries of such a row, also those
    written before or after it pointed at the person (a phone moved by a merge). Erasure only
    (audit_erasure_begin first); how many entries were redacted."""
    if not columns or not values:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_auditentry SET before = crm_audit_redacted(before),"
            " after = crm_audit_redacted(after)"
            " WHERE table_name = %s AND record_id IN (SELECT m.record_id FROM"
            " accounts_auditentry m, unnest(%s::text[]) AS k(col) WHERE m.table_name = %s"
            " AND (m.before->>k.col = ANY(%s) OR m.after->>k.col = ANY(%s)))"
            " AND (before IS DISTINCT FROM crm_audit_redacted(before)"
            " OR after IS DISTINCT FROM crm_audit_redacted(after))",
            [table_name, columns, table_name, values, values],
        )
        return cursor.rowcount


def audit_redact_between(
    *, table_name: str, record_id: str, start: datetime.datetime, end: datetime.datetime
) -> int:
    """Blank the entries about one row written between `start` and `end`: the time another
    record held an erased person's values (a merge into it, later undone). Erasure only."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_auditentry SET before = crm_audit_redacted(before),"
            " after = crm_audit_redacted(after)"
            " WHERE table_name = %s AND record_id = %s AND at BETWEEN %s AND %s"
            " AND (before IS DISTINCT FROM crm_audit_redacted(before)"
            " OR after IS DISTINCT FROM crm_audit_redacted(after))",
            [table_name, record_id, start, end],
        )
        return cursor.rowcount


def audit_redact_export_filters(scrub: Callable[[str], str]) -> int:
    """Rewrite the filter kept in export entries (detail["filter"], the list's query string) as
    `scrub` returns it: erasure passes one that drops the parameters naming the person, so the
    entry still tells what kind of list was exported. Erasure only (audit_erasure_begin
    first; the append-only guard lets nothing else of an entry change); how many changed."""
    changed = 0
    entries = AuditEntry.objects.filter(action="export").exclude(detail__filter="")
    for pk, detail in entries.values_list("pk", "detail").iterator():
        text = detail.get("filter") if isinstance(detail, dict) else None
        if not isinstance(text, str):
            continue
        scrubbed = scrub(text)
        if scrubbed != text:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE accounts_auditentry SET detail = jsonb_set(detail, '{filter}',"
                    " to_jsonb(%s::text)) WHERE id = %s",
                    [scrubbed, pk],
                )
            changed += 1
    return changed
