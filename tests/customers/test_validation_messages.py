"""The same bad value gets the same message from the customer form (its checks and the service
behind it) and from the customers import (customers.validation, crm.lib.validation_messages)."""

import csv
import io
import uuid
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import selectors, services
from crm.transfer.models import ImportJob
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TAKEN = f"MSG-{uuid.uuid4().hex[:8]}"
PHONE = "+8613900007788"

# (field, bad value): one of each kind of check both paths make.
CASES = [
    ("name", ""),
    ("name", "名" * 201),
    ("city", "c" * 101),
    ("postal_code", "1" * 21),
    ("notes", "n" * 10_001),
    ("emails", "not-an-email"),
    ("phones", "12345"),
    ("birthday", "2023-02-29"),
    ("birthday", "5 o'clock"),
    ("gender", "robot"),
    ("kind", "robot"),
    ("country", "C1"),
    ("tags", "t" * 51),
    ("external_id", TAKEN),
]


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


def _form_message(member: Any, field: str, value: str) -> str:
    data = {"name": "Message test", "kind": "individual", field: value}
    response = client_for(member, "manager").post(reverse("customers:new"), data)
    assert response.status_code == 200, (field, value)
    errors = response.context["form"].errors
    assert field in errors, (field, dict(errors))
    return " ".join(errors[field])


def _import_messages(member: Any) -> dict[int, tuple[str, str]]:
    # "channel" keeps the row without a name from being an empty row (skipped).
    headers = sorted({field for field, _value in CASES} | {"name", "phones", "channel"})
    rows = [headers]
    for field, value in CASES:
        row = dict.fromkeys(headers, "")
        row["name"] = "Message test"
        row["channel"] = "test"
        row[field] = value
        if field == "external_id":
            # Matched to the phone's holder, so the external id is another customer's.
            row["phones"] = PHONE
        rows.append([row[h] for h in headers])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    manager = User.objects.get(pk=member.manager.pk)
    job = services.import_start(
        actor=manager,
        kind="customers",
        upload=io.BytesIO(buffer.getvalue().encode()),
        filename="bad.csv",
    )
    job = services.import_configure(
        actor=manager,
        job=job,
        mapping={h: h for h in headers},
        valid_only=False,
        template_name="",
        match_by="phone",
    )
    job = services.import_check_request(actor=manager, job=job, inline=True)
    assert job.status != ImportJob.Status.FAILED, job.message
    return {r.row: (r.column, r.reason) for r in selectors.import_rejected_rows(job, 100)}


def test_the_form_and_the_import_refuse_a_bad_value_with_the_same_words(acme):
    with schema_context(acme.schema):
        customer_create(actor=None, data=CustomerInput(name="Holds the id", external_id=TAKEN))
        customer_create(actor=None, data=CustomerInput(name="Holds the phone", phones=[PHONE]))
        imported = _import_messages(acme)
    for number, (field, value) in enumerate(CASES, start=2):
        form = _form_message(acme, field, value)
        assert imported.get(number) == (field, form), (field, value)


def test_the_messages_say_what_is_wrong():
    """Spot checks of the shared words, so a change to them is a decision, not an accident."""
    from crm.lib.validation_messages import not_an_email, too_long
    from customers import validation

    assert too_long(200, 201) == "Keep it to 200 characters (it has 201)."
    assert not_an_email("x") == "“x” is not an email address."
    assert validation.external_id_taken() == "Another customer has this external id."
    assert str(validation.NAME_REQUIRED) == "A customer needs a name."
