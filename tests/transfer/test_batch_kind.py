"""A kind declared outside customers on the batch short path (crm.transfer.batch_kinds): timeline
entries written a batch at a time with bulk_create / bulk_update. What the kind leaves to the
scaffolding works for it: rows rejected with every problem, keys repeated in the file, the
records kept for undo (before-images, fingerprints), the kind told once per batch with the
acting user, and undo (records restored and removed, refused when one was changed or is gone)."""

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.utils.translation import gettext_lazy
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import bulk, services
from crm.transfer.batch_kinds import BatchImportKind, BatchRun, Create, Update
from crm.transfer.models import ImportChange, ImportJob
from crm.transfer.registry import (
    ImportField,
    SourceRow,
    register_import_kind,
    unregister_import_kind,
)
from crm.transfer.row_kinds import RowRejected
from customers.models import Customer, Interaction
from customers.selectors import customers_find
from customers.services import CustomerInput, customer_create
from tests.transfer.test_import_engine import csv_bytes

pytestmark = pytest.mark.django_db

SOURCE = "batch test"


class NotesBatchImport(BatchImportKind):
    """Notes by the customer's external id: a title already on that customer's timeline (from
    this kind) has its details updated, else a new note is made."""

    key = "notes_batch_test"
    label = gettext_lazy("Timeline notes")
    model = Interaction
    noun = gettext_lazy("timeline entries")

    def __init__(self) -> None:
        self.told: list[tuple[str, int | None, list[int]]] = []

    @property
    def fields(self) -> list[ImportField]:
        return [
            ImportField("customer", gettext_lazy("Customer id"), aliases=("客户",)),
            ImportField("title", gettext_lazy("Title")),
            ImportField("body", gettext_lazy("Details")),
        ]

    def parse(self, run: BatchRun, row: SourceRow) -> tuple[str, str, str]:
        ref, title = row.values.get("customer", "").strip(), row.values.get("title", "").strip()
        problems = [(k, f"No {k}.") for k, v in (("customer", ref), ("title", title)) if not v]
        if problems:
            raise RowRejected(*problems[0], *problems[1:])
        return ref, title, row.values.get("body", "")

    def row_key(self, run: BatchRun, parsed: tuple[str, str, str]) -> str:
        return f"{parsed[0]}:{parsed[1]}"

    def prepare(self, run: BatchRun, parsed: list[tuple[str, str, str]]) -> dict[str, Any]:
        found = customers_find(by="external_id", values={p[0] for p in parsed}, using=run.reads())
        customers = {ref: ids[0] for ref, ids in found.items()}
        with run.reads().cursor() as cursor:
            table = bulk.qualified(Interaction._meta.db_table)
            cursor.execute(
                f"SELECT customer_id, title, id, body FROM {table}"  # noqa: S608 (a name)
                " WHERE source = %s AND customer_id = ANY(%s)",
                [SOURCE, list(customers.values())],
            )
            existing = {(c, t): (pk, body) for c, t, pk, body in cursor.fetchall()}
        return {"customers": customers, "existing": existing}

    def decide(
        self, run: BatchRun, batch: dict[str, Any], parsed: tuple[str, str, str]
    ) -> Create | Update | None:
        ref, title, body = parsed
        customer_id = batch["customers"].get(ref)
        if customer_id is None:
            raise RowRejected("customer", f"No customer {ref}.")
        current = batch["existing"].get((customer_id, title))
        if current is None:
            return Create((customer_id, title, body))
        return Update(current[0], body) if current[1] != body else None

    def write(
        self, run: BatchRun, batch: dict[str, Any], creates: list[Any], updates: list[Update]
    ) -> list[int]:
        made = Interaction.objects.bulk_create(
            Interaction(customer_id=c, kind="note", source=SOURCE, title=t, body=b)
            for c, t, b in creates
        )
        changed = [Interaction(pk=u.pk, body=u.item) for u in updates]
        Interaction.objects.bulk_update(changed, ["body"])
        return [m.pk for m in made]

    def written(self, job: ImportJob, actor: Any, ids: list[int]) -> None:
        self.told.append(("written", getattr(actor, "pk", None), sorted(ids)))

    def removing(self, job: ImportJob, actor: Any, ids: list[int]) -> None:
        self.told.append(("removing", getattr(actor, "pk", None), sorted(ids)))

    def restored(self, job: ImportJob, actor: Any, ids: list[int]) -> None:
        self.told.append(("restored", getattr(actor, "pk", None), sorted(ids)))


@pytest.fixture
def kind() -> Iterator[NotesBatchImport]:
    kind = NotesBatchImport()
    register_import_kind(kind)
    yield kind
    unregister_import_kind(kind.key)


def _customer(ref: str) -> Customer:
    return customer_create(actor=None, data=CustomerInput(name=f"批量{ref}", external_id=ref))


def _notes(customer: Customer) -> list[tuple[str, str]]:
    return sorted(
        Interaction.objects.filter(customer=customer, source=SOURCE).values_list("title", "body")
    )


def _imported(member: Any, rows: list[list[str]], *, valid_only: bool = False) -> ImportJob:
    actor = User.objects.get(pk=member.manager.pk)
    job = services.import_start(
        actor=actor, kind=NotesBatchImport.key, upload=io.BytesIO(csv_bytes(rows)), filename="n.csv"
    )
    job = services.import_configure(
        actor=actor, job=job, mapping=job.mapping, valid_only=valid_only
    )
    job = services.import_check_request(actor=actor, job=job, inline=True)
    if job.status == ImportJob.Status.CHECKED and (valid_only or not job.rejected_count):
        job = services.import_commit_request(actor=actor, job=job, inline=True)
    return job


def _rejections(job: ImportJob) -> list[tuple[int, str, str]]:
    from crm.transfer.selectors import import_rejected_rows

    return [(r.row, r.column, r.reason) for r in import_rejected_rows(job, 100)]


def test_rows_are_checked_written_recorded_told_and_undone(acme, kind):
    ref = f"B{uuid.uuid4().hex[:8]}"
    headers = ["客户", "Title", "Details"]
    with schema_context(acme.schema):
        customer = _customer(ref)
        job = _imported(acme, [headers, [ref, "Visit", "one"], [ref, "Call", "two"]])
        assert (job.status, job.created_count) == (ImportJob.Status.DONE, 2), job.message
        ids = sorted(
            Interaction.objects.filter(source=SOURCE, customer=customer).values_list(
                "pk", flat=True
            )
        )
        assert kind.told == [("written", acme.manager.pk, ids)]
        changes = ImportChange.objects.filter(job=job).order_by("object_id")
        assert [(c.action, c.object_id) for c in changes] == [("created", pk) for pk in ids]
        assert all(len(c.before["after"]) == 32 for c in changes)  # md5 of the row as written

        kind.told.clear()
        rows = [
            headers,
            [ref, "Visit", "changed"],
            [ref, "Visit", "again"],
            ["", "", "x"],
            ["nobody", "New", ""],
            [ref, "Call", "two"],
            [ref, "Note", "three"],
        ]
        job = _imported(acme, rows, valid_only=True)
        assert job.status == ImportJob.Status.DONE, job.message
        counts = (job.created_count, job.updated_count, job.unchanged_count, job.rejected_count)
        assert counts == (1, 1, 1, 3)
        assert _rejections(job) == [
            (3, "", "Row 3 repeats row 2."),
            (4, "客户", "No customer."),
            (4, "Title", "No title."),
            (5, "客户", "No customer nobody."),
        ]
        assert _notes(customer) == [("Call", "two"), ("Note", "three"), ("Visit", "changed")]
        visit = Interaction.objects.get(customer=customer, source=SOURCE, title="Visit")
        note = Interaction.objects.get(customer=customer, source=SOURCE, title="Note")
        assert kind.told == [("written", acme.manager.pk, sorted([visit.pk, note.pk]))]
        before = ImportChange.objects.get(job=job, object_id=visit.pk).before
        assert before["row"]["body"] == "one" and len(before["after"]) == 32

        # Changed after the import: undo is refused, with nothing changed.
        Interaction.objects.filter(pk=visit.pk).update(body="by hand")
        with pytest.raises(ValidationError, match="were changed after it"):
            services.import_undo_request(actor=None, job=job, inline=True)
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE
        Interaction.objects.filter(pk=visit.pk).update(body="changed")

        kind.told.clear()
        manager = User.objects.get(pk=acme.manager.pk)
        undone = services.import_undo_request(actor=manager, job=job, inline=True)
        assert undone.status == ImportJob.Status.UNDONE, undone.message
        assert _notes(customer) == [("Call", "two"), ("Visit", "one")]
        assert kind.told == [
            ("removing", manager.pk, [note.pk]),
            ("restored", manager.pk, [visit.pk]),
        ]


def test_undo_is_refused_when_a_record_is_gone_and_a_failed_commit_tells_nobody(
    acme, kind, tmp_path
):
    ref = f"G{uuid.uuid4().hex[:8]}"
    with schema_context(acme.schema):
        customer = _customer(ref)
        job = _imported(acme, [["客户", "Title"], [ref, "One"], [ref, "Two"]])
        assert job.status == ImportJob.Status.DONE, job.message
        Interaction.objects.filter(customer=customer, title="One").delete()
        with pytest.raises(ValidationError, match="1 timeline entries this import created"):
            services.import_undo_request(actor=None, job=job, inline=True)
        assert _notes(customer) == [("Two", "")]

    # The command line's single pass, all or nothing: a row rejected rolls the batch back and
    # the kind is told nothing.
    kind.told.clear()
    path = tmp_path / "n.csv"
    path.write_bytes(csv_bytes([["客户", "Title"], [ref, "Three"], ["nobody", "Four"]]))
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("import_records", acme.schema, kind.key, str(path), stdout=out)
    assert "row 3\t客户\tNo customer nobody." in out.getvalue()
    assert kind.told == []
    with schema_context(acme.schema):
        assert _notes(customer) == [("Two", "")]
    assert not connection.needs_rollback
