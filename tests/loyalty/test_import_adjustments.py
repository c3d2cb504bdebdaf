"""The "points adjustments" import kind: through the wizard (dry run, commit, undo) and the
command line, customers found by external id, phone or email, the approval limit applied as at
the counter, and undo writing the opposite entries (the ledger is append-only)."""

import io
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.transfer import services
from crm.transfer.models import ImportJob
from loyalty.models import Adjustment
from loyalty.services import points_redeem
from tests.conftest import client_for
from tests.loyalty.helpers import account, assert_consistent, customer, order
from tests.transfer.test_import_engine import csv_bytes

pytestmark = pytest.mark.django_db

KIND = "points_adjustments"
PHONE = "+86 139 1234 5678"


def _members(acme):
    ref = f"M{uuid.uuid4().hex[:8]}"
    with schema_context(acme.schema):
        by_id = customer(external_id=ref)
        by_phone = customer(phones=[PHONE])
        by_email = customer(emails=[f"{ref.lower()}@example.com"])
        order(by_phone, "100")
    return ref, by_id, by_phone, by_email


def _balance(acme, member) -> int:
    from loyalty.models import Account

    with schema_context(acme.schema):
        found = Account.objects.filter(customer_id=member.pk).first()
        return found.balance if found else 0


def test_the_wizard_checks_commits_and_undoes(acme):
    ref, by_id, by_phone, by_email = _members(acme)
    client = client_for(acme, "manager")
    rows = [
        ["客户", "积分", "原因"],
        [ref, "40", "Welcome back"],
        [PHONE.replace(" ", ""), "-30", "Returned goods"],
        [f"{ref.lower()}@example.com", "+900", "Complaint"],  # above the limit: pending
        ["nobody@example.com", "5", "x"],
        [ref, "0", "nothing"],
    ]
    response = client.post(
        reverse("transfer:import_new"),
        {"kind": KIND, "file": SimpleUploadedFile("adj.csv", csv_bytes(rows), "text/csv")},
    )
    assert response.status_code == 302
    with schema_context(acme.schema):
        job = ImportJob.objects.order_by("-pk").first()
    assert job.kind == KIND
    assert job.mapping == {"客户": "customer", "积分": "points", "原因": "reason"}
    post = {f"col_{i}": job.mapping[h] for i, h in enumerate(job.headers)}
    response = client.post(response.url, post | {"valid_only": "on"})
    assert response.status_code == 302, response.content.decode()[:1500]
    with schema_context(acme.schema):
        job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert (job.created_count, job.rejected_count) == (3, 2)
    assert [_balance(acme, m) for m in (by_id, by_phone, by_email)] == [0, 100, 0], "dry run"

    client.post(reverse("transfer:import_commit", kwargs={"pk": job.pk}))
    with schema_context(acme.schema):
        job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE, job.message
        assert Adjustment.objects.get(account__customer=by_email).status == "pending"
    assert [_balance(acme, m) for m in (by_id, by_phone, by_email)] == [40, 70, 0]

    client.post(reverse("transfer:import_undo", kwargs={"pk": job.pk}))
    with schema_context(acme.schema):
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.UNDONE
        assert Adjustment.objects.get(account__customer=by_email).status == "rejected"
        for member in (by_id, by_phone):
            assert_consistent(account(member))
    assert [_balance(acme, m) for m in (by_id, by_phone, by_email)] == [0, 100, 0]


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_records", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_the_command_line_imports_and_undo_is_refused_once_the_points_are_spent(
    acme, tmp_path: Path
):
    ref, by_id, _phone, _email = _members(acme)
    path = tmp_path / "adj.csv"
    path.write_bytes(csv_bytes([["customer", "points", "reason"], [ref, "60", "Goodwill"]]))
    status, out, err = _run(acme.schema, KIND, str(path))
    assert status == 0, (out, err)
    assert "imported: 1 new" in out
    assert _balance(acme, by_id) == 60

    short = tmp_path / "short.csv"
    short.write_bytes(csv_bytes([["customer", "points", "reason"], [ref, "-61", "Too much"]]))
    status, out, _err = _run(acme.schema, KIND, str(short))
    assert status == 1 and "Not enough points: the balance is 60, 61" in out
    assert _balance(acme, by_id) == 60

    with schema_context(acme.schema):
        points_redeem(actor=None, customer=by_id, points=10)
        job = ImportJob.objects.filter(kind=KIND, status=ImportJob.Status.DONE).latest("pk")
        with pytest.raises(ValidationError, match="spent since"):
            services.import_undo_request(actor=None, job=job, inline=True)
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE
    assert _balance(acme, by_id) == 50
