"""The audit log: triggers record service and bulk writes with before and after values, sign-ins
are recorded, entries cannot be changed, and the viewer filters and pages them."""

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts import services
from crm.accounts.audit import audit_actor
from crm.accounts.models import AuditEntry, User
from tests.conftest import client_for
from tests.testkit.cast import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_service_write_is_recorded_with_actor_before_and_after(acme):
    client_for(acme, "admin").post(
        reverse("admin_console:staff_edit", args=[acme.viewer.pk]),
        {"full_name": "Renamed Viewer", "role": _role_id(acme, "Viewer")},
    )
    with schema_context(acme.schema):
        entry = AuditEntry.objects.filter(table_name="accounts_user", action="update").first()
    assert entry is not None
    assert entry.actor_id == acme.admin.pk and entry.actor_label == acme.email("admin")
    assert entry.record_id == str(acme.viewer.pk)
    assert entry.before["full_name"] == "acme viewer"
    assert entry.after["full_name"] == "Renamed Viewer"
    assert str(entry.ip) == "127.0.0.1"


def _role_id(member, name):
    with schema_context(member.schema):
        return Group.objects.get(name=name).pk


def test_a_bulk_update_is_recorded_row_by_row(acme):
    with schema_context(acme.schema), audit_actor("nightly script"):
        changed = User.objects.filter(email__endswith="@acme.test").update(language="zh-hans")
        entries = list(
            AuditEntry.objects.filter(
                table_name="accounts_user", action="update", actor_label="nightly script"
            )
        )
    assert changed == len(entries) == 6
    assert all(e.before["language"] == "" and e.after["language"] == "zh-hans" for e in entries)


def test_passwords_show_as_changed_never_their_hash_and_logins_are_quiet(acme):
    with schema_context(acme.schema):
        user = User.objects.get(pk=acme.agent.pk)
        old_hash = user.password
        user.set_password("another-password-1")
        user.save()
        entry = AuditEntry.objects.filter(table_name="accounts_user").first()
        assert entry.before["password"] != entry.after["password"]
        assert old_hash not in str(entry.before) and user.password not in str(entry.after)
        count = AuditEntry.objects.count()
        User.objects.filter(pk=user.pk).update(last_login="2026-01-01T00:00:00Z")
        assert AuditEntry.objects.count() == count, "last_login alone is not worth an entry"


def test_role_membership_and_permission_changes_are_recorded(acme):
    with schema_context(acme.schema):
        admin = User.objects.get(pk=acme.admin.pk)
        with audit_actor(admin):
            role = services.role_create(
                actor=admin, name="Auditor", description="", scope="all", codenames=["view_reports"]
            )
            User.objects.get(pk=acme.viewer.pk).groups.add(role)
        tables = set(
            AuditEntry.objects.filter(actor_id=admin.pk).values_list("table_name", flat=True)
        )
    assert {
        "auth_group",
        "auth_group_permissions",
        "accounts_roleprofile",
        "accounts_user_groups",
    } <= tables


def test_audit_entries_cannot_be_changed_or_deleted(acme):
    with schema_context(acme.schema):
        entry = AuditEntry.objects.create(action="login", actor_label="someone")
        for statement in (
            "UPDATE accounts_auditentry SET action = 'x'",
            "DELETE FROM accounts_auditentry",
            "TRUNCATE accounts_auditentry",
        ):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement)
        assert AuditEntry.objects.get(pk=entry.pk).action == "login"


def test_an_erasure_may_change_an_entrys_filter_and_nothing_else_of_its_detail(acme):
    """Inside an erasure (audit_erasure_begin) the guard lets the export filter change, so a
    search for the person can be dropped; every other key of the detail, and the ip, stay."""
    from crm.accounts.audit import audit_erasure_begin

    with schema_context(acme.schema):
        entry = AuditEntry.objects.create(
            action="export", ip="10.0.0.1", detail={"kind": "customers", "filter": "q=x", "rows": 3}
        )
        for statement in (
            "UPDATE accounts_auditentry SET detail = jsonb_set(detail, '{rows}', '0')",
            "UPDATE accounts_auditentry SET detail = detail - 'kind'",
            "UPDATE accounts_auditentry SET ip = NULL",
            "UPDATE accounts_auditentry SET detail = '[]'::jsonb",
        ):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                audit_erasure_begin()
                cursor.execute(statement + " WHERE id = %s", [entry.pk])
        with transaction.atomic(), connection.cursor() as cursor:
            audit_erasure_begin()
            cursor.execute(
                "UPDATE accounts_auditentry SET detail = jsonb_set(detail, '{filter}', '\"\"')"
                " WHERE id = %s",
                [entry.pk],
            )
        # Outside an erasure not even the filter may change. (The erasure's setting lasts to
        # the end of its transaction, which here is the test's own: it is switched off.)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('crm.audit_erasing', 'off', true)")
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "UPDATE accounts_auditentry SET detail = jsonb_set(detail, '{filter}', '\"y\"')"
                " WHERE id = %s",
                [entry.pk],
            )
        assert AuditEntry.objects.get(pk=entry.pk).detail == {
            "kind": "customers",
            "filter": "",
            "rows": 3,
        }


def test_sign_in_failed_sign_in_and_sign_out_are_recorded(acme):
    client = client_for(acme)
    client.post("/login/", {"username": acme.email("manager"), "password": "wrong"})
    client.post("/login/", {"username": acme.email("manager"), "password": PASSWORD})
    client.post("/logout/")
    with schema_context(acme.schema):
        actions = list(
            AuditEntry.objects.filter(action__in=["login", "login_failed", "logout"])
            .order_by("id")
            .values_list("action", "actor_label")
        )
    manager = acme.email("manager")
    assert actions == [("login_failed", manager), ("login", manager), ("logout", manager)]


def test_the_viewer_filters_and_pages(acme):
    with schema_context(acme.schema):
        for _ in range(60):
            AuditEntry.objects.create(action="export", actor_id=acme.manager.pk, actor_label="m")
    admin = client_for(acme, "admin")
    url = reverse("admin_console:audit_log")
    first = admin.get(url, {"action": "export"})
    rows = first.context["rows"]
    assert len(rows) == 50 and all(r["entry"].action == "export" for r in rows)
    assert first.context["next_query"]
    second = admin.get(f"{url}?{first.context['next_query']}")
    assert len(second.context["rows"]) == 10
    assert second.context["rows"][0]["entry"].pk < rows[-1]["entry"].pk
    by_user = admin.get(url, {"actor": acme.manager.pk, "action": "export"})
    assert len(by_user.context["rows"]) == 50
    nobody = admin.get(url, {"action": "export", "date_from": "2099-01-01"})
    assert "No entries match" in nobody.content.decode()
