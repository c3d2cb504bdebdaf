"""The audit log masks personal data: "administer" does not imply "see personal data", and the
log keeps before and after values of every audited customer table."""

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts import audit_labels
from crm.accounts.audit import audit_actor
from crm.accounts.services import role_create, staff_create
from customers.custom_field_services import CustomFieldInput, custom_field_create
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for
from tests.testkit.otp import verify_session

pytestmark = pytest.mark.django_db

PHONE, EMAIL, ADDRESS, ID_CARD = "13912345678", "canary-7q@example.org", "Canary Road 77", "ZX9931"


def _plant(acme):
    with schema_context(acme.schema), audit_actor(acme.admin):
        custom_field_create(
            actor=acme.admin,
            key="id_card_audit",
            data=CustomFieldInput(label="ID card", kind="text", personal=True),
        )
        customer_create(
            actor=acme.admin,
            data=CustomerInput(
                name="Audit Canary",
                phones=[PHONE],
                emails=[EMAIL],
                address=ADDRESS,
                custom={"id_card_audit": ID_CARD},
            ),
        )


def _admin_without_personal_data(acme) -> Client:
    with schema_context(acme.schema):
        role = role_create(
            actor=acme.admin,
            name=f"Auditor {uuid.uuid4().hex[:6]}",
            description="",
            scope="all",
            codenames=["view_records", "administer"],
        )
        auditor = staff_create(
            actor=None,
            email=f"auditor-{uuid.uuid4().hex[:6]}@acme.test",
            full_name="Auditor",
            role=role,
            password="correct-horse-battery",
        )
        client = Client(HTTP_HOST=acme.host)
        client.force_login(auditor)
        verify_session(client, auditor)
    return client


def test_an_administrator_without_personal_data_sees_the_log_masked(acme):
    _plant(acme)
    page = _admin_without_personal_data(acme).get(reverse("admin_console:audit_log"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Audit Canary" in body  # the entries are there ...
    for canary in (PHONE, "+86 139 1234 5678", "+8613912345678", EMAIL, ADDRESS, ID_CARD):
        assert canary not in body  # ... their personal values are not
    assert "5678" in body  # masked the way the customer page masks (last four digits)


def test_an_administrator_with_personal_data_sees_the_values(acme):
    _plant(acme)
    body = client_for(acme, "admin").get(reverse("admin_console:audit_log")).content.decode()
    assert EMAIL in body and ADDRESS in body and ID_CARD in body


def test_every_audited_table_has_a_label(acme):
    """A table with an audit trigger must be registered (register_table), where its personal
    columns are named; an unregistered one would show raw values with a raw table name."""
    with schema_context(acme.schema), connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT event_object_table FROM information_schema.triggers"
            " WHERE trigger_schema = %s AND action_statement LIKE %s",
            [acme.schema, "%audit%"],
        )
        audited = {row[0] for row in cursor.fetchall()} - {"accounts_auditentry"}
    assert audited, "no audited tables found: the query no longer matches the triggers"
    assert audited <= set(audit_labels.TABLES), audited - set(audit_labels.TABLES)
