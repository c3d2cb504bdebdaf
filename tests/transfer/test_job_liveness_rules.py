"""The liveness rule (crm.lib.liveness) on import and export jobs, without killing anything:
a job taken by a runner whose lock is free is dead at once, a queued one waits START_WITHIN
for a worker, and a job whose lock is held is never settled, however old."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.lib import liveness
from crm.transfer import exporting, services
from crm.transfer.models import ExportJob, ImportJob
from customers.models import Customer
from tests.conftest import client_for
from tests.transfer.test_import_engine import check, commit, csv_bytes, marker, start

pytestmark = pytest.mark.django_db

Status = ImportJob.Status
LONG_AGO = datetime.timedelta(days=1)


def _busy(job: ImportJob, status: str, *, taken: bool, ago: datetime.timedelta) -> ImportJob:
    at = timezone.now() - ago
    ImportJob.objects.filter(pk=job.pk).update(
        status=status, queued_at=at, started_at=at, taken_at=at if taken else None
    )
    job.refresh_from_db()
    return job


def _next_commit(member, m: str) -> ImportJob:
    return commit(member, check(member, start(member, csv_bytes([["姓名"], [f"N{m}"]]))))


def test_a_taken_job_whose_lock_is_free_stops_blocking_at_once(acme):
    m = marker()
    with schema_context(acme.schema):
        dead = _busy(
            start(acme, csv_bytes([["姓名"], [f"D{m}"]]), "dead.csv"),
            Status.RUNNING,
            taken=True,
            ago=datetime.timedelta(seconds=1),
        )
        assert _next_commit(acme, m).status == Status.DONE
        dead.refresh_from_db()
        assert dead.status == Status.FAILED and dead.finished_at is not None
        assert dead.message == (
            "The import stopped without finishing (its process ended); nothing was imported."
        )


def test_a_job_whose_runner_holds_its_lock_is_never_settled(acme):
    m = marker()
    with schema_context(acme.schema):
        alive = _busy(
            start(acme, csv_bytes([["姓名"], [f"A{m}"]]), "alive.csv"),
            Status.RUNNING,
            taken=True,
            ago=LONG_AGO,
        )
        with liveness.RunnerHold(services.JOB_TABLE, alive.pk) as hold:
            assert hold.acquired and hold.still_held()
            # A second runner (a duplicated task) is turned away and changes nothing.
            assert services.import_commit_run(alive.pk, None).status == Status.RUNNING
            job = check(acme, start(acme, csv_bytes([["姓名"], [f"B{m}"]])))
            with pytest.raises(ValidationError, match=r"alive\.csv"):
                commit(acme, job)
            assert services.imports_settle() == 0
        alive.refresh_from_db()
        assert alive.status == Status.RUNNING
        assert not Customer.objects.filter(name=f"B{m}").exists()
        # Once its holder is gone, the next look settles it.
        assert services.imports_settle() == 1
        alive.refresh_from_db()
        assert alive.status == Status.FAILED


def test_a_queued_job_waits_for_a_worker_only_so_long(acme):
    m = marker()
    with schema_context(acme.schema):
        queued = _busy(
            start(acme, csv_bytes([["姓名"], [f"Q{m}"]]), "queued.csv"),
            Status.RUNNING,
            taken=False,
            ago=liveness.START_WITHIN - datetime.timedelta(minutes=1),
        )
        job = check(acme, start(acme, csv_bytes([["姓名"], [f"R{m}"]])))
        with pytest.raises(ValidationError, match=r"queued\.csv"):
            commit(acme, job)
        queued = _busy(queued, Status.RUNNING, taken=False, ago=liveness.START_WITHIN)
        assert commit(acme, job).status == Status.DONE
        queued.refresh_from_db()
        assert queued.status == Status.FAILED


def test_a_redelivered_task_settles_a_run_that_died_instead_of_repeating_it(acme):
    m = marker()
    with schema_context(acme.schema):
        job = check(acme, start(acme, csv_bytes([["姓名"], [f"T{m}"]])))
        job = _busy(job, Status.RUNNING, taken=True, ago=datetime.timedelta(seconds=5))
        job = services.import_commit_run(job.pk, None)
        assert job.status == Status.FAILED and "its process ended" in job.message
        assert not Customer.objects.filter(name=f"T{m}").exists()


def test_a_dead_check_can_be_checked_again_and_a_dead_undo_is_imported_again(acme):
    m = marker()
    with schema_context(acme.schema):
        checking = _busy(
            start(acme, csv_bytes([["姓名"], [f"C{m}"]])), Status.CHECKING, taken=True, ago=LONG_AGO
        )
        done = _next_commit(acme, m)
        undoing = _busy(done, Status.UNDOING, taken=True, ago=LONG_AGO)
        assert services.imports_settle() == 2
        checking.refresh_from_db()
        undoing.refresh_from_db()
        assert checking.status == Status.UPLOADED and "check it again" in checking.message
        assert services.import_check_request(actor=None, job=checking, inline=True).status == (
            Status.CHECKED
        )
        assert undoing.status == Status.DONE and undoing.message == (
            "The undo stopped without finishing (its process ended); nothing was changed."
        )
        assert Customer.objects.filter(name=f"N{m}").exists()
        undone = services.import_undo_request(actor=None, job=undoing, inline=True)
        assert undone.status == Status.UNDONE


def test_the_job_page_and_the_list_settle_what_they_show(acme):
    m = marker()
    with schema_context(acme.schema):
        manager = User.objects.get(pk=acme.manager.pk)
        dead = _busy(
            start(acme, csv_bytes([["姓名"], [f"P{m}"]])), Status.RUNNING, taken=True, ago=LONG_AGO
        )
        assert dead.created_by_id == manager.pk
    client = client_for(acme, "manager")
    page = client.get(reverse("transfer:import_progress", kwargs={"pk": dead.pk}))
    assert page.status_code == 200 and "its process ended" in page.content.decode()
    assert 'hx-trigger="every 1s"' not in page.content.decode()
    with schema_context(acme.schema):
        dead.refresh_from_db()
        assert dead.status == Status.FAILED
        _busy(dead, Status.RUNNING, taken=True, ago=LONG_AGO)
    assert client.get(reverse("transfer:imports")).status_code == 200
    with schema_context(acme.schema):
        dead.refresh_from_db()
        assert dead.status == Status.FAILED


def test_the_daily_expiry_settles_dead_jobs_then_clears_every_state(acme):
    m = marker()
    with schema_context(acme.schema):
        old = timezone.now() - datetime.timedelta(days=40)
        jobs = {
            status: start(acme, csv_bytes([["姓名"], [f"X{status}{m}"]]), f"{status}.csv")
            for status in (Status.UPLOADED, Status.CHECKING, Status.RUNNING, Status.FAILED)
        }
        for status, job in jobs.items():
            ImportJob.objects.filter(pk=job.pk).update(
                status=status, created_at=old, queued_at=old, taken_at=old
            )
        alive = jobs[Status.RUNNING]
        with liveness.RunnerHold(services.JOB_TABLE, alive.pk):
            services.imports_expire()
            alive.refresh_from_db()
            assert alive.status == Status.RUNNING and alive.file_path
            assert services.job_path(alive).exists()
        services.imports_expire()
        for status, job in jobs.items():
            job.refresh_from_db()
            assert job.file_path == "", status
            assert job.status not in services.LIVE


def test_exports_left_by_a_dead_or_missing_worker_show_failed(acme):
    with schema_context(acme.schema):
        admin = User.objects.get(pk=acme.admin.pk)
        now = timezone.now()
        running = ExportJob.objects.create(
            kind="customers", file_format="csv", created_by=admin, status="running", taken_at=now
        )
        lost = ExportJob.objects.create(
            kind="customers",
            file_format="csv",
            created_by=admin,
            created_at=now - liveness.START_WITHIN,
        )
        waiting = ExportJob.objects.create(kind="customers", file_format="csv", created_by=admin)
        with liveness.RunnerHold(exporting.EXPORT_TABLE, running.pk):
            assert exporting.exports_settle() == 1  # only the one no worker took in time
        page = client_for(acme, "admin").get(reverse("transfer:exports")).content.decode()
        for job in (running, lost, waiting):
            job.refresh_from_db()
        assert (running.status, lost.status, waiting.status) == ("failed", "failed", "queued")
        assert lost.message == "No worker started this export in time; start it again."
        assert "its process ended" in running.message and "its process ended" in page
        # A task delivered again for the dead export does not write it again.
        exporting.export_run(running.pk)
        running.refresh_from_db()
        assert running.status == "failed" and not running.file_path
        exporting.export_run(waiting.pk)
        waiting.refresh_from_db()
        assert waiting.status == "done" and waiting.taken_at is not None
        if waiting.file_path:
            exporting.Path(waiting.file_path).unlink(missing_ok=True)
