"""What imports and exports hand to someone who may not see personal data: the import job page
quotes rejected personal cells masked (the reasons echo cells), and an export written with
personal data is refused to whoever may not see it when they ask for the file."""

import csv
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts import capabilities as cap
from crm.accounts.models import User
from crm.accounts.services import role_create
from crm.transfer.exporting import export_run
from crm.transfer.models import ExportJob, ImportJob
from tests.conftest import client_for
from tests.testkit.masked_roles import client_as, masked_staff

pytestmark = pytest.mark.django_db

BAD_BIRTHDAY = "1987-02-30"
BAD_PHONE = "5550199887766554433"
BAD_EMAIL = "wang.private@@example"
PERSONAL_CELLS = [BAD_BIRTHDAY, BAD_PHONE, "199887766554433", BAD_EMAIL, "wang.private"]


def _file() -> bytes:
    out = io.StringIO()
    rows = [
        ["姓名", "手机", "邮箱", "生日", "积分"],
        [f"好行{uuid.uuid4().hex[:6]}", "13900001111", "good@example.cn", "1990-01-02", ""],
        ["坏行", BAD_PHONE, BAD_EMAIL, BAD_BIRTHDAY, ""],
    ]
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def _checked_job(member, client) -> ImportJob:
    response = client.post(
        reverse("transfer:import_new"),
        {"kind": "customers", "file": SimpleUploadedFile("p.csv", _file(), "text/csv")},
    )
    assert response.status_code == 302
    with schema_context(member.schema):
        job = ImportJob.objects.order_by("-pk").first()
    assert job is not None
    data = {f"col_{i}": job.mapping.get(h, "") for i, h in enumerate(job.headers)}
    data.update(match_by="phone", valid_only="on")
    client.post(reverse("transfer:import_map", kwargs={"pk": job.pk}), data)
    with schema_context(member.schema):
        job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED and job.rejected_count == 1
    return job


def test_rejected_rows_quote_personal_cells_masked_for_importers_without_personal_data(acme):
    steward = client_as(acme, masked_staff(acme, "steward"))
    job = _checked_job(acme, steward)
    url = reverse("transfer:import_detail", kwargs={"pk": job.pk})
    page = steward.get(url).content.decode()
    assert "Rejected rows" in page and "坏行" not in page, "the cells are not shown"
    for cell in PERSONAL_CELLS:
        assert cell not in page, cell
    assert "is not a date that exists" in page, "the reason still says what is wrong"
    assert "“••••-••-••”" in page
    partial = steward.get(reverse("transfer:import_progress", kwargs={"pk": job.pk}))
    for cell in PERSONAL_CELLS:
        assert cell not in partial.content.decode(), cell

    # Once the same importer may see personal data, the reasons come unmasked (the same
    # account, so whichever job ownership the import pages apply, the job stays theirs).
    with schema_context(acme.schema):
        seer = role_create(
            actor=None,  # type: ignore[arg-type]
            name=f"seer {uuid.uuid4().hex[:6]}",
            description="",
            scope="all",
            codenames=[cap.PERSONAL_DATA],
        )
        User.objects.get(pk=job.created_by.pk).groups.add(seer)
    full = steward.get(url).content.decode()
    assert BAD_BIRTHDAY in full


def _export_as(member, user: User) -> ExportJob:
    with schema_context(member.schema):
        job = ExportJob.objects.create(kind="customers", file_format="csv", created_by=user)
        export_run(job.pk)
        job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    return job


def test_an_unmasked_export_is_refused_once_its_writer_may_no_longer_see_personal_data(acme):
    with schema_context(acme.schema):
        from customers.services import CustomerInput, customer_create

        customer_create(
            actor=None,
            data=CustomerInput(name="导出者", phones=["+8613700002222"], emails=["ex@example.cn"]),
        )
        manager = User.objects.get(pk=acme.manager.pk)
    job = _export_as(acme, manager)
    assert job.unmasked
    url = reverse("transfer:export_download", kwargs={"pk": job.pk})
    client = client_for(acme, "manager")
    first = client.get(url)
    assert first.status_code == 200
    assert "+8613700002222" in b"".join(first.streaming_content).decode("utf-8-sig")

    # The manager loses "see personal data": same account, now a role without it.
    with schema_context(acme.schema):
        role = role_create(
            actor=None,  # type: ignore[arg-type]
            name=f"export-only {uuid.uuid4().hex[:6]}",
            description="",
            scope="all",
            codenames=[cap.VIEW, cap.EXPORT],
        )
        manager.groups.set([role])
    refused = client_for(acme, "manager").get(url)
    assert refused.status_code == 403
    assert b"13700002222" not in refused.content
    assert "holds personal data you may not see" in refused.content.decode()

    # What they export now is written masked, and that file they may download.
    masked = _export_as(acme, manager)
    assert not masked.unmasked
    again = client_for(acme, "manager").get(
        reverse("transfer:export_download", kwargs={"pk": masked.pk})
    )
    assert again.status_code == 200
    body = b"".join(again.streaming_content).decode("utf-8-sig")
    assert "导出者" in body and "13700002222" not in body


def test_an_administrator_without_personal_data_cannot_download_anothers_unmasked_export(acme):
    with schema_context(acme.schema):
        job = _export_as(acme, User.objects.get(pk=acme.admin.pk))
    steward = client_as(acme, masked_staff(acme, "steward"))
    url = reverse("transfer:export_download", kwargs={"pk": job.pk})
    assert steward.get(url).status_code == 403
    assert client_for(acme, "admin").get(url).status_code == 200
