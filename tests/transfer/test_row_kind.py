"""A kind declared outside customers, on the short path (crm.transfer.row_kinds), with an option
of its own: timeline entries imported through customers' own service. It runs through the
wizard and through import_records like the customers kind, and undo takes it all back."""

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django_tenants.utils import schema_context

from crm.transfer import services
from crm.transfer.models import ImportJob
from crm.transfer.registry import (
    ImportField,
    ImportOption,
    SourceRow,
    import_kind,
    register_import_kind,
    unregister_import_kind,
)
from crm.transfer.row_kinds import RowImportKind, RowRejected
from customers.models import Customer, Interaction
from customers.services import CustomerInput, customer_create, timeline_add
from tests.conftest import client_for
from tests.transfer.test_import_engine import csv_bytes

pytestmark = pytest.mark.django_db

SOURCE = "test import"


class TimelineImport(RowImportKind):
    """Timeline entries by the customer's external id; a title already on that customer's
    timeline (from this kind) is updated, else a new entry is made."""

    key = "timeline_test"
    label = gettext_lazy("Timeline entries")
    model = Interaction
    noun = gettext_lazy("timeline entries")
    options = (
        ImportOption(
            key="entry_kind",
            label=gettext_lazy("Record the entries as"),
            default="note",
            choices=(("note", gettext_lazy("Note")), ("call", gettext_lazy("Call"))),
        ),
    )

    @property
    def fields(self) -> list[ImportField]:
        return [
            ImportField("customer", gettext_lazy("Customer id"), required=True, aliases=("客户",)),
            ImportField("title", gettext_lazy("Title"), required=True),
            ImportField("body", gettext_lazy("Details")),
        ]

    def parse(self, job: ImportJob, row: SourceRow) -> dict[str, Any]:
        ref = row.values.get("customer", "").strip()
        customer = Customer.objects.filter(external_id=ref).first() if ref else None
        if customer is None:
            raise RowRejected("customer", f"No customer {ref!r}.")
        return {
            "customer": customer,
            "title": row.values.get("title", ""),
            "body": row.values.get("body", ""),
        }

    def row_key(self, job: ImportJob, parsed: dict[str, Any]) -> str:
        return f"{parsed['customer'].pk}:{parsed['title']}"

    def existing(self, job: ImportJob, parsed: dict[str, Any]) -> Interaction | None:
        return Interaction.objects.filter(
            customer=parsed["customer"], title=parsed["title"], source=SOURCE
        ).first()

    def create(self, job: ImportJob, parsed: dict[str, Any]) -> Interaction:
        return timeline_add(
            actor=None,
            customer=parsed["customer"],
            kind=job.option("entry_kind"),
            title=parsed["title"],
            body=parsed["body"],
            source=SOURCE,
        )

    def update(self, job: ImportJob, parsed: dict[str, Any], record: Any) -> bool:
        if record.body == parsed["body"]:
            return False
        record.body = parsed["body"]
        record.save(update_fields=["body"])
        return True


@pytest.fixture(autouse=True)
def timeline_kind():
    register_import_kind(TimelineImport())
    yield import_kind(TimelineImport.key)
    unregister_import_kind(TimelineImport.key)


@pytest.fixture
def customer(acme):
    ref = f"T{uuid.uuid4().hex[:8]}"
    with schema_context(acme.schema):
        return customer_create(actor=None, data=CustomerInput(name=f"时间线{ref}", external_id=ref))


def _entries(acme, customer) -> list[tuple[str, str, str]]:
    with schema_context(acme.schema):
        return sorted(
            Interaction.objects.filter(customer_id=customer.pk, source=SOURCE).values_list(
                "kind", "title", "body"
            )
        )


def test_the_wizard_offers_the_kinds_option_and_undo_takes_it_back(acme, customer):
    client = client_for(acme, "manager")
    data = csv_bytes(
        [["客户", "Title", "Details"], [customer.external_id, "Called back", "about the order"]]
    )
    response = client.post(
        reverse("transfer:import_new"),
        {"kind": TimelineImport.key, "file": SimpleUploadedFile("t.csv", data, "text/csv")},
    )
    assert response.status_code == 302
    with schema_context(acme.schema):
        job = ImportJob.objects.order_by("-pk").first()
    assert job.mapping == {"客户": "customer", "Title": "title", "Details": "body"}
    assert job.options == {"entry_kind": "note"}
    page = client.get(response.url).content.decode()
    assert 'name="entry_kind"' in page and "Record the entries as" in page
    assert 'name="match_by"' not in page and "create_missing_customers" not in page

    post = {f"col_{i}": job.mapping[h] for i, h in enumerate(job.headers)}
    refused = client.post(response.url, post | {"entry_kind": "visit"})
    assert refused.status_code == 200 and _entries(acme, customer) == []
    response = client.post(response.url, post | {"entry_kind": "call"})
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context(acme.schema):
        job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED and job.options == {"entry_kind": "call"}
    assert (job.created_count, job.rejected_count) == (1, 0)
    assert _entries(acme, customer) == [], "a dry run writes nothing"
    detail = client.get(reverse("transfer:import_detail", kwargs={"pk": job.pk})).content
    assert "Record the entries as" in detail.decode()

    client.post(reverse("transfer:import_commit", kwargs={"pk": job.pk}))
    assert _entries(acme, customer) == [("call", "Called back", "about the order")]
    client.post(reverse("transfer:import_undo", kwargs={"pk": job.pk}))
    with schema_context(acme.schema):
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.UNDONE
    assert _entries(acme, customer) == []


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_records", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_the_command_line_takes_the_kinds_option_updates_and_undo_restores(
    acme, customer, tmp_path: Path
):
    ref = customer.external_id
    first = tmp_path / "first.csv"
    first.write_bytes(csv_bytes([["客户", "Title", "Details"], [ref, "Visit", "one"]]))
    status, out, err = _run(acme.schema, TimelineImport.key, str(first), "--entry-kind", "call")
    assert status == 0, (out, err)
    assert "imported: 1 new, 0 updated, 0 unchanged, 0 rejected (1 rows)" in out
    assert _entries(acme, customer) == [("call", "Visit", "one")]

    # A flag of another kind is refused before anything is read or written.
    status, _out, err = _run(
        acme.schema, TimelineImport.key, str(first), "--create-missing-customers"
    )
    assert status == 2 and "no option --create-missing-customers" in err
    status, _out, err = _run(acme.schema, TimelineImport.key, str(first), "--entry-kind", "x")
    assert status == 2 and "Record the entries as" in err

    second = tmp_path / "second.csv"
    second.write_bytes(
        csv_bytes(
            [
                ["客户", "Title", "Details"],
                [ref, "Visit", "two"],
                [ref, "Visit", "three"],
                ["nobody", "Visit", ""],
            ]
        )
    )
    status, out, _err = _run(acme.schema, TimelineImport.key, str(second))
    assert status == 1
    assert "row 3\t-\tRow 3 repeats row 2." in out and "row 4\t客户\tNo customer" in out
    assert _entries(acme, customer) == [("call", "Visit", "one")], "all or nothing"
    status, out, _err = _run(acme.schema, TimelineImport.key, str(second), "--valid-only")
    assert "imported: 0 new, 1 updated, 0 unchanged, 2 rejected" in out
    assert _entries(acme, customer) == [("call", "Visit", "two")]

    with schema_context(acme.schema):
        done = ImportJob.objects.filter(kind=TimelineImport.key, status=ImportJob.Status.DONE)
        update, create = done.order_by("-pk")
        assert create.options == {"entry_kind": "call"} and create.created_count == 1
        # The entry changed since the import that created it: that undo is refused.
        with pytest.raises(ValidationError, match="changed after"):
            services.import_undo_request(actor=None, job=create, inline=True)
        assert ImportJob.objects.get(pk=create.pk).status == ImportJob.Status.DONE
        undone = services.import_undo_request(actor=None, job=update, inline=True)
        assert undone.status == ImportJob.Status.UNDONE, undone.message
    assert _entries(acme, customer) == [("call", "Visit", "one")], "the body given back"
    with schema_context(acme.schema):
        undone = services.import_undo_request(actor=None, job=create, inline=True)
        assert undone.status == ImportJob.Status.UNDONE, undone.message
    assert _entries(acme, customer) == []
