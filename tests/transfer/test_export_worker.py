"""A large export through the real Celery worker: queued, written, listed and downloaded."""

import io
import time

import openpyxl
from django.db import connection
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from crm.transfer import exporting
from crm.transfer.models import ExportJob
from customers.models import CustomerEmail, CustomerPhone, Order
from tests.conftest import client_for
from tests.transfer.test_exports import EVIL, _export, _make


def test_a_large_export_runs_in_the_worker_and_downloads(
    committed_db, celery_worker, acme, settings
):
    settings.CRM_TRANSFER_INLINE_ROWS = 2
    made = _make(acme, "bigexp")
    marketing = client_for(acme, "marketing")
    try:
        response = _export(marketing, "tag=bigexp", fmt="xlsx")
        assert response.status_code == 302 and response.url == reverse("transfer:exports")
        with schema_context(acme.schema):
            job = ExportJob.objects.filter(query="tag=bigexp").get()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with schema_context(acme.schema):
                job.refresh_from_db()
            if job.status in ("done", "failed"):
                break
            time.sleep(0.3)
        assert job.status == "done" and job.rows_done == 4, job.message
        page = marketing.get(reverse("transfer:exports")).content.decode()
        download = reverse("transfer:export_download", kwargs={"pk": job.pk})
        assert download in page
        body = b"".join(marketing.get(download).streaming_content)
        values = [
            [c.value for c in r]
            for r in openpyxl.load_workbook(io.BytesIO(body)).active.iter_rows()
        ]
        assert "'" + EVIL in [row[1] for row in values]
        assert not any("1380000" in (row[3] or "") for row in values[1:])  # masked for marketing
        with schema_context(acme.schema):
            entry = AuditEntry.objects.filter(action="export", detail__job=job.pk).get()
            assert entry.detail["rows"] == 4 and entry.actor_id == acme.marketing.pk
    finally:
        with schema_context(acme.schema):
            for job in ExportJob.objects.filter(query="tag=bigexp"):
                path = exporting.export_path(job)
                if path is not None:
                    path.unlink(missing_ok=True)
                job.delete()
            ids = [c.pk for c in made]
            Order.objects.filter(customer_id__in=ids).delete()
            # Row by row in SQL: the delete must not depend on every related model's table.
            CustomerPhone.objects.filter(customer_id__in=ids).delete()
            CustomerEmail.objects.filter(customer_id__in=ids).delete()
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM customers_customer WHERE id = ANY(%s)", [ids])
