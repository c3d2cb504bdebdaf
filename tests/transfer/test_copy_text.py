"""The customer import writes phones, emails and ImportChange rows as COPY text it formats
itself (a batch at a time, not bulk.copy_field a value at a time): the text is the one the
generic formatter gives, escapes included, and what it writes reads back unchanged."""

from typing import Any

import pytest
from django_tenants.utils import schema_context

from crm.transfer import bulk
from customers.models import Customer, CustomerEmail, CustomerPhone
from customers.transfer_imports import _email_lines, _phone_lines
from tests.transfer.test_import_engine import csv_bytes, imported, marker

pytestmark = pytest.mark.django_db


def _generic(rows: list[tuple[Any, ...]]) -> str:
    return "".join("\t".join(bulk.copy_field(v) for v in row) + "\n" for row in rows)


def test_phone_and_email_lines_are_the_generic_copy_text():
    phones = [("139 0000 0001", "+8613900000001"), ("a\\b\t\r\n", "+8613900000002")]
    assert _phone_lines([(7, phones, True), (8, phones[:1], False), (9, [], True)]) == _generic(
        [
            (7, "139 0000 0001", "+8613900000001", "8613900000001", True),
            (7, "a\\b\t\r\n", "+8613900000002", "8613900000002", False),
            (8, "139 0000 0001", "+8613900000001", "8613900000001", False),
        ]
    )
    emails = ['"a\\b"@example.com', "c@example.cn"]
    assert _email_lines([(7, emails, True), (8, emails[1:], False)]) == _generic(
        [(7, emails[0], True), (7, emails[1], False), (8, emails[1], False)]
    )


def test_the_changes_operation_is_the_generic_copy_text(acme):
    class Job:
        pk = 42

    operation = bulk.changes_copy_operation(Job(), Customer, bulk.CREATED, [3, 5])  # type: ignore[arg-type]
    assert operation[3] == _generic(
        [(42, "customers.customer", 3, "created"), (42, "customers.customer", 5, "created")]
    )


def test_an_escaped_email_and_phone_read_back_unchanged(acme):
    m = marker()
    email = f'"x\\\\{m}"@example.com'  # a quoted local part with a backslash
    with schema_context(acme.schema):
        job = imported(
            acme,
            csv_bytes([["name", "phones", "emails"], [f"Escaped {m}", "139-0000-1234", email]]),
            match_by="email",
        )
        assert job.created_count == 1, job.message
        customer = Customer.objects.get(name=f"Escaped {m}")
        assert list(CustomerEmail.objects.filter(customer=customer).values_list("email")) == [
            (email.lower(),)
        ]
        assert list(
            CustomerPhone.objects.filter(customer=customer).values_list(
                "raw", "e164", "digits", "is_primary"
            )
        ) == [("139-0000-1234", "+8613900001234", "8613900001234", True)]
