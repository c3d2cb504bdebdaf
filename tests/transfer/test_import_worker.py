"""Imports larger than CRM_TRANSFER_INLINE_ROWS go through the real Celery worker: the check, the
commit and the undo each run there, the job page's progress ends at every row, and the results
are the same as inline."""

import io
import time
from typing import Any

from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from crm.transfer import services
from crm.transfer.models import ImportJob
from customers.models import Customer, CustomerEmail, CustomerPhone
from tests.transfer.test_import_engine import csv_bytes, marker


def _wait(member: Any, job: ImportJob, *done: str, seconds: float = 60) -> ImportJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with schema_context(member.schema):
            job.refresh_from_db()
        if job.status in done:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job.pk} still {job.status}: {job.message}")


def test_check_commit_and_undo_run_in_the_worker(committed_db, celery_worker, acme, settings):
    settings.CRM_TRANSFER_INLINE_ROWS = 2
    m = marker()
    rows = [["姓名", "手机", "邮箱"]]
    rows += [[f"W{i}{m}", f"1365555{i:04d}", f"w{i}.{m}@example.cn"] for i in range(6)]
    rows.append([f"Bad{m}", "1", ""])
    try:
        with schema_context(acme.schema):
            manager = User.objects.get(pk=acme.manager.pk)
            job = services.import_start(
                actor=manager,
                kind="customers",
                upload=io.BytesIO(csv_bytes(rows)),
                filename="w.csv",
            )
            assert job.rows_total and job.rows_total > 2
            job = services.import_configure(
                actor=manager,
                job=job,
                mapping=job.mapping,
                match_by="phone",
                update_existing=True,
                valid_only=True,
            )
            job = services.import_check_request(actor=manager, job=job)
            assert job.status == ImportJob.Status.CHECKING
        job = _wait(acme, job, "checked", "failed")
        assert (job.status, job.created_count, job.rejected_count) == ("checked", 6, 1), job.message
        assert job.rows_done == job.rows_total == 7
        with schema_context(acme.schema):
            assert not Customer.objects.filter(name__endswith=m).exists()
            job = services.import_commit_request(actor=manager, job=job)
            assert job.status == ImportJob.Status.RUNNING
        job = _wait(acme, job, "done", "failed")
        assert (job.status, job.created_count) == ("done", 6), job.message
        assert job.rows_done == job.rows_total == 7
        with schema_context(acme.schema):
            assert Customer.objects.filter(name__endswith=m).count() == 6
            entry = AuditEntry.objects.get(action="import", record_id=str(job.pk))
            assert entry.actor_id == manager.pk and entry.detail["created"] == 6
            job = services.import_undo_request(actor=manager, job=job)
            assert job.status == ImportJob.Status.UNDOING
        job = _wait(acme, job, "undone", "done")
        assert job.status == "undone", job.message
        with schema_context(acme.schema):
            assert not Customer.objects.filter(name__endswith=m).exists()
            assert job.undone_by_id == manager.pk
    finally:
        with schema_context(acme.schema):
            ids = list(Customer.objects.filter(name__endswith=m).values_list("pk", flat=True))
            CustomerPhone.objects.filter(customer__in=ids).delete()
            CustomerEmail.objects.filter(customer__in=ids).delete()
            Customer.objects.filter(pk__in=ids).delete()
            for leftover in ImportJob.objects.filter(original_name="w.csv"):
                services.job_path(leftover).unlink(missing_ok=True)
                for path in services.rejected_paths(leftover):
                    path.unlink(missing_ok=True)
                leftover.delete()


def test_a_committed_import_reads_keys_on_a_second_connection(committed_db, acme):
    """Outside a test's transaction the commit looks keys up on a second connection while the
    previous batch is written: matches and updates come out as inline."""
    from customers.services import CustomerInput, customer_create

    m = marker()
    try:
        with schema_context(acme.schema):
            manager = User.objects.get(pk=acme.manager.pk)
            old = customer_create(
                actor=None,
                data=CustomerInput(name=f"Old{m}", phones=["13612340000"], city="北京"),
            )
            rows = [["姓名", "手机", "城市"], [f"Old{m}", "13612340000", "上海"]]
            rows += [[f"New{i}{m}", f"1361235{i:04d}", "上海"] for i in range(3)]
            job = services.import_start(
                actor=manager,
                kind="customers",
                upload=io.BytesIO(csv_bytes(rows)),
                filename="c.csv",
            )
            job = services.import_configure(
                actor=manager,
                job=job,
                mapping=job.mapping,
                match_by="phone",
                update_existing=True,
                valid_only=False,
            )
            job = services.import_check_request(actor=manager, job=job, inline=True)
            job = services.import_commit_request(actor=manager, job=job, inline=True)
            assert (job.status, job.created_count, job.updated_count) == ("done", 3, 1)
            old.refresh_from_db()
            assert old.city == "上海"
            job = services.import_undo_request(actor=manager, job=job, inline=True)
            assert job.status == "undone", job.message
            old.refresh_from_db()
            assert old.city == "北京"
    finally:
        with schema_context(acme.schema):
            ids = list(Customer.objects.filter(name__endswith=m).values_list("pk", flat=True))
            CustomerPhone.objects.filter(customer__in=ids).delete()
            CustomerEmail.objects.filter(customer__in=ids).delete()
            Customer.objects.filter(pk__in=ids).delete()
            for leftover in ImportJob.objects.filter(original_name="c.csv"):
                services.job_path(leftover).unlink(missing_ok=True)
                leftover.delete()
