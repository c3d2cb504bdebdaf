"""Exports of the customer list's current filter and of orders: scope, masking, formula-safe
cells on every path, inline streaming, worker jobs, downloads, expiry and audit."""

import csv
import datetime
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from crm.transfer import exporting
from crm.transfer.models import ExportJob
from customers.models import Customer, Order
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

EVIL = "=cmd|' /C calc'!A0"


def _make(acme, tag: str) -> list[Customer]:
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        made = [
            customer_create(
                actor=None,
                data=CustomerInput(
                    name=name, phones=[phone], emails=[email], owner=owner, tags=[tag, *extra]
                ),
            )
            for name, phone, email, owner, extra in [
                (EVIL, "13800000001", "a@x.cn", agent, []),
                ("李四", "13800000002", "b@x.cn", agent, ["vip"]),
                ("王五", "13800000003", "c@x.cn", None, ["vip"]),
                ("+赵六", "13800000004", "d@x.cn", None, []),
            ]
        ]
        Order.objects.create(
            number=f"-{tag}-1",
            customer=made[1],
            ordered_at=timezone.now(),
            amount=Decimal("12.50"),
            currency="CNY",
        )
    return made


@pytest.fixture
def four(acme):
    return _make(acme, "exp")


def _csv_rows(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _export(client, query: str, fmt: str = "csv", kind: str = "customers"):
    url = reverse("transfer:export_start", kwargs={"kind": kind})
    return client.get(f"{url}?format={fmt}&{query}")


def test_the_export_is_the_lists_filter_with_formulas_escaped(acme, four):
    response = _export(client_for(acme, "manager"), "tag=exp&order=newest")
    assert response.status_code == 200
    rows = _csv_rows(response)
    assert [r["name"] for r in rows] == ["'+赵六", "王五", "李四", "'" + EVIL]
    assert rows[2]["phones"] == "'+8613800000002" and rows[2]["emails"] == "b@x.cn"
    assert rows[2]["tags"] == "exp,vip"
    vip = _csv_rows(_export(client_for(acme, "manager"), "tag=vip&q=李"))
    assert [r["name"] for r in vip] == ["李四"]


def test_an_agent_exports_only_customers_in_scope(acme, four):
    # The agent role has no export capability: give this one the marketing role's export too by
    # checking the scope through the selector the view uses.
    from django.http import QueryDict

    from customers.transfer_exports import customers_export_rows

    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        names = {row[1] for row in customers_export_rows(agent, QueryDict("tag=exp"))}
        manager = User.objects.get(pk=acme.manager.pk)
        everyone = {row[1] for row in customers_export_rows(manager, QueryDict("tag=exp"))}
    assert names == {EVIL, "李四"}
    assert everyone == {EVIL, "李四", "王五", "+赵六"}


def test_marketing_gets_masked_personal_data_and_a_viewer_is_refused(acme, four):
    rows = _csv_rows(_export(client_for(acme, "marketing"), "tag=exp"))
    assert rows and all("1380000" not in r["phones"] and "@x.cn" not in r["emails"] for r in rows)
    assert all(r["phones"] for r in rows)  # masked, not dropped
    viewer = _export(client_for(acme, "viewer"), "tag=exp")
    assert viewer.status_code == 403


def test_xlsx_opens_with_chinese_intact_and_formulas_as_text(acme, four):
    response = _export(client_for(acme, "manager"), "tag=exp", fmt="xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    values = [[c.value for c in row] for row in book.active.iter_rows()]
    names = [row[1] for row in values[1:]]
    assert values[0][1] == "name"
    assert "李四" in names and "'" + EVIL in names and "'+赵六" in names
    assert not any(isinstance(v, str) and v.startswith("=") for row in values for v in row)


def test_orders_export_escapes_and_masks(acme, four):
    rows = _csv_rows(_export(client_for(acme, "marketing"), "", kind="orders"))
    mine = [r for r in rows if r["number"] == "'-exp-1"]
    assert mine and mine[0]["amount"] == "12.50" and "1380000" not in mine[0]["customer_phone"]
    full = _csv_rows(_export(client_for(acme, "manager"), "", kind="orders"))
    mine = [r for r in full if r["number"] == "'-exp-1"]
    assert mine[0]["customer_phone"] == "'+8613800000002"  # "+" starts a formula: escaped


def test_every_export_is_audited(acme, four):
    _csv_rows(_export(client_for(acme, "manager"), "tag=vip"))
    with schema_context(acme.schema):
        entry = AuditEntry.objects.filter(action="export").order_by("-id").first()
        assert entry.actor_id == acme.manager.pk
        assert entry.detail == {
            "kind": "customers",
            "filter": "tag=vip",
            "rows": 2,
            "format": "csv",
        }


def test_unknown_kind_or_format_is_404(acme):
    manager = client_for(acme, "manager")
    assert _export(manager, "", kind="nope").status_code == 404
    assert _export(manager, "", fmt="pdf").status_code == 404


def test_bulk_selection_and_dsr_zip_escape_formulas(acme, four):
    manager = client_for(acme, "manager")
    response = manager.post(reverse("customers:bulk"), {"ids": [four[0].pk], "action": "export"})
    rows = _csv_rows(response)
    assert rows[0]["name"] == "'" + EVIL
    archive = manager.post(reverse("customers:export", kwargs={"pk": four[0].pk}))
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        profile = zf.read("profile.csv").decode("utf-8-sig")
    assert "'" + EVIL in profile and "\n" + EVIL not in profile and "," + EVIL not in profile


def test_the_exports_page_is_empty_at_first(acme):
    page = client_for(acme, "marketing").get(reverse("transfer:exports"))
    assert page.status_code == 200 and "No exports yet" in page.content.decode()


def test_downloads_are_the_creators_or_an_admins_only(acme, globex):
    with schema_context(acme.schema):
        folder = exporting.export_dir()
        job = ExportJob.objects.create(
            kind="customers",
            file_format="csv",
            status=ExportJob.Status.DONE,
            created_by=User.objects.get(pk=acme.marketing.pk),
        )
        path = folder / f"{job.pk}-test.csv"
        path.write_text("\ufeffname\n", encoding="utf-8")
        ExportJob.objects.filter(pk=job.pk).update(file_path=f"exports/{path.name}")
    url = reverse("transfer:export_download", kwargs={"pk": job.pk})
    try:
        assert client_for(acme, "marketing").get(url).status_code == 200
        assert client_for(acme, "admin").get(url).status_code == 200
        assert client_for(acme, "manager").get(url).status_code == 404
        assert client_for(acme, "viewer").get(url).status_code == 403
        assert client_for(globex, "admin").get(url).status_code == 404
        other = client_for(acme, "manager").get(reverse("transfer:exports")).content.decode()
        assert url not in other
    finally:
        path.unlink(missing_ok=True)


def test_expired_exports_lose_their_files_and_rows(acme):
    with schema_context(acme.schema):
        folder = exporting.export_dir()
        user = User.objects.get(pk=acme.marketing.pk)
        old = ExportJob.objects.create(
            kind="customers",
            file_format="csv",
            status=ExportJob.Status.DONE,
            created_by=user,
            created_at=timezone.now() - datetime.timedelta(days=8),
        )
        fresh = ExportJob.objects.create(
            kind="customers", file_format="csv", status=ExportJob.Status.DONE, created_by=user
        )
        old_path, fresh_path = folder / f"{old.pk}-old.csv", folder / f"{fresh.pk}-new.csv"
        for job, path in ((old, old_path), (fresh, fresh_path)):
            path.write_text("x", encoding="utf-8")
            ExportJob.objects.filter(pk=job.pk).update(file_path=f"exports/{path.name}")
        try:
            assert exporting.exports_expire() == 1
            assert not old_path.exists() and fresh_path.exists()
            assert list(ExportJob.objects.filter(pk__in=[old.pk, fresh.pk])) == [fresh]
        finally:
            fresh_path.unlink(missing_ok=True)


def test_the_exports_table_polls_only_while_an_export_runs(acme):
    with schema_context(acme.schema):
        job = ExportJob.objects.create(
            kind="customers",
            file_format="csv",
            status=ExportJob.Status.RUNNING,
            rows_total=10,
            rows_done=4,
            created_by=User.objects.get(pk=acme.marketing.pk),
        )
    client = client_for(acme, "marketing")
    running = client.get(reverse("transfer:export_rows")).content.decode()
    assert 'hx-trigger="every 2s"' in running and "<progress" in running and "Customers" in running
    with schema_context(acme.schema):
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, message="Disk full"
        )
    finished = client.get(reverse("transfer:export_rows")).content.decode()
    assert "hx-trigger" not in finished and "Disk full" in finished


def test_the_lists_export_links_carry_its_filter_and_order(acme):
    page = client_for(acme, "marketing").get(reverse("customers:home") + "?order=newest&tag=vip")
    body = page.content.decode()
    start = reverse("transfer:export_start", kwargs={"kind": "customers"})
    assert f"{start}?format=csv&amp;order=newest&amp;tag=vip" in body
    assert "format=xlsx" in body
    assert (
        "format=csv"
        not in client_for(acme, "viewer").get(reverse("customers:home")).content.decode()
    )
