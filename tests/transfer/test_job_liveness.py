"""A job whose process dies blocks nothing (crm.lib.liveness): real processes, killed with
SIGKILL in the middle of their work, and what anyone sees next."""

import csv
import io
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.lib import liveness
from crm.transfer import bulk, exporting, services
from crm.transfer.models import ExportJob, ImportJob
from crm.transfer.tasks_exports import export_run_task
from crm.transfer.tasks_imports import import_commit_task
from customers.models import Customer
from tests.conftest import ARTIFACTS, client_for
from tests.testkit.processes import Managed, start_worker
from tests.transfer.test_import_cli import run as cli
from tests.transfer.test_import_engine import check, commit, csv_bytes, start

ROWS = 50_000
DEAD = "The import stopped without finishing (its process ended); nothing was imported."


def _wait_for(what: str, condition: Callable[[], bool], seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds} s for {what}")


def _writing_customers(member: Any) -> bool:
    """Some other session has written customers in a transaction still open (the commit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = to_regclass(%s)"
            " AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid())",
            [f"{member.schema}.customers_customer"],
        )
        return bool(cursor.fetchone()[0])


def _job(member: Any, name: str) -> ImportJob | None:
    with schema_context(member.schema):
        return ImportJob.objects.filter(original_name=name).order_by("-pk").first()


def _alive(member: Any, job: ImportJob) -> bool:
    with schema_context(member.schema):
        return liveness.runner_alive(services.JOB_TABLE, job.pk)


def _routed(monkeypatch: pytest.MonkeyPatch, task: Any, queue: str) -> None:
    """Send `task` to `queue` (a worker of the test's own, which it may kill)."""
    real = task._get_current_object()
    monkeypatch.setattr(real, "queue", queue, raising=False)
    monkeypatch.setattr(real, "_exec_options", None)


@pytest.fixture(scope="module")
def big(
    tmp_path_factory: pytest.TempPathFactory, cast: Any, django_db_blocker: Any
) -> Iterator[tuple[str, Path]]:
    """A file of ROWS new customers (name, email, a tag of its own); whatever it created is
    removed at the end of the module."""
    m = uuid.uuid4().hex[:8]
    path = tmp_path_factory.mktemp("liveness") / f"big-{m}.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "emails", "tags"])
        writer.writerows([f"L{i}{m}", f"l{i}.{m}@example.cn", f"lv{m}"] for i in range(ROWS))
    yield m, path
    member = cast["acme"]
    with django_db_blocker.unblock(), schema_context(member.schema):
        for job in ImportJob.objects.filter(original_name__in=[path.name, "small.csv"]):
            services.job_path(job).unlink(missing_ok=True)
            for rejected in services.rejected_paths(job):
                rejected.unlink(missing_ok=True)
            job.changes.all().delete()
            job.delete()
        for export in ExportJob.objects.filter(query__contains=m):
            if export.file_path:
                Path(export.file_path).unlink(missing_ok=True)
            export.delete()
        # In one transaction with the row triggers' audit entries off, as an import writes.
        with transaction.atomic(), connection.cursor() as cursor:
            bulk.audit_quiet()
            cursor.execute(
                "DELETE FROM customers_customeremail WHERE customer_id IN "
                "(SELECT id FROM customers_customer WHERE name LIKE %s)",
                [f"%{m}"],
            )
            cursor.execute("DELETE FROM customers_customer WHERE name LIKE %s", [f"%{m}"])
        connection.set_schema_to_public()


def _imported(member: Any, m: str) -> int:
    with schema_context(member.schema):
        return Customer.objects.filter(name__endswith=m).count()


def test_a_command_line_import_killed_mid_commit_blocks_nothing(
    committed_db, acme, big, _services_env
):
    m, path = big
    command = [sys.executable, "manage.py", "import_records", acme.schema, "customers", str(path)]
    process = Managed("import-killed", command, _services_env, ARTIFACTS)
    try:
        _wait_for("the import's job", lambda: _job(acme, path.name) is not None)
        job = _job(acme, path.name)
        assert job is not None
        _wait_for("the commit to hold its lock", lambda: _alive(acme, job))
        _wait_for("rows being written", lambda: _writing_customers(acme))
        time.sleep(0.5)  # well inside the commit
        assert process.process.poll() is None, process.log_tail()
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(timeout=10)
    finally:
        process.stop()
    # The server notices the closed socket at once; its backend may take a moment to exit.
    _wait_for("the lock to go with its process", lambda: not _alive(acme, job), 10)
    with schema_context(acme.schema):
        job.refresh_from_db()
        assert job.status == ImportJob.Status.RUNNING and job.taken_at is not None
    assert _imported(acme, m) == 0  # killed mid-commit: nothing written

    started = time.monotonic()
    status, out, err = cli(acme.schema, "customers", str(path))
    took = time.monotonic() - started
    assert status == 0, (out, err)
    assert f"imported: {ROWS} new, 0 updated, 0 unchanged, 0 rejected ({ROWS} rows)" in out
    assert _imported(acme, m) == ROWS
    with schema_context(acme.schema):
        job.refresh_from_db()
    assert (job.status, job.message) == (ImportJob.Status.FAILED, DEAD)
    assert job.finished_at is not None and job.created_count == 0
    print(f"re-import of {ROWS} rows after the kill: {took:.1f} s")


def test_an_import_whose_worker_is_killed_mid_commit_fails_and_blocks_nothing(
    committed_db, acme, big, _services_env, monkeypatch
):
    m, path = big
    queue = f"crm-test-kill-{uuid.uuid4().hex[:6]}"
    worker = start_worker(_services_env, ARTIFACTS, queue)
    _routed(monkeypatch, import_commit_task, queue)
    other = f"w{m}"
    try:
        with schema_context(acme.schema):
            manager = User.objects.get(pk=acme.manager.pk)
            # The same rows under other names and emails: all new, none imported yet.
            data = path.read_bytes().replace(m.encode(), other.encode())
            job = services.import_start(
                actor=manager, kind="customers", upload=io.BytesIO(data), filename=path.name
            )
            job = services.import_configure(
                actor=manager,
                job=job,
                mapping=job.mapping,
                match_by="email",
                update_existing=True,
                valid_only=False,
            )
            # Skip the dry run (the commit checks every row again anyway).
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.CHECKED, rows_total=ROWS, created_count=ROWS
            )
            job = services.import_commit_request(actor=manager, job=job, inline=False)
            assert job.status == ImportJob.Status.RUNNING and job.taken_at is None

        def progressing() -> bool:
            with schema_context(acme.schema):
                job.refresh_from_db()
            return job.taken_at is not None and job.rows_done > 0

        _wait_for("the worker's progress", progressing)
        assert job.status == ImportJob.Status.RUNNING and _alive(acme, job)
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(timeout=10)
    finally:
        worker.stop()
    _wait_for("the lock to go with the worker", lambda: not _alive(acme, job), 10)
    assert _imported(acme, other) == 0

    # Whoever looks at the job page sees it failed, with the reason.
    page = client_for(acme, "manager").get(reverse("transfer:import_detail", kwargs={"pk": job.pk}))
    assert page.status_code == 200
    with schema_context(acme.schema):
        job.refresh_from_db()
    assert (job.status, job.message) == (ImportJob.Status.FAILED, DEAD)
    assert "its process ended" in page.content.decode()

    # And another import of customers goes ahead at once.
    with schema_context(acme.schema):
        small = check(acme, start(acme, csv_bytes([["姓名"], [f"S{m}"]]), "small.csv"))
        small = commit(acme, small)
        assert small.status == ImportJob.Status.DONE, small.message


def test_an_export_whose_worker_is_killed_shows_failed_and_a_new_one_runs(
    committed_db, acme, big, _services_env, monkeypatch
):
    m, path = big
    if _imported(acme, m) < ROWS:
        status, out, err = cli(acme.schema, "customers", str(path))
        assert status == 0, (out, err)
    queue = f"crm-test-kill-{uuid.uuid4().hex[:6]}"
    worker = start_worker(_services_env, ARTIFACTS, queue)
    _routed(monkeypatch, export_run_task, queue)
    query = f"tag=lv{m}"
    try:
        with schema_context(acme.schema):
            admin = User.objects.get(pk=acme.admin.pk)
            exporting.export_job_request(
                actor=admin, kind="customers", query=query, file_format="xlsx"
            )
            job = ExportJob.objects.get(query=query)

        def writing() -> bool:
            with schema_context(acme.schema):
                job.refresh_from_db()
            return job.status == ExportJob.Status.RUNNING and job.rows_done > 0

        _wait_for("the export's progress", writing)
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(timeout=10)
    finally:
        worker.stop()

    def gone() -> bool:
        with schema_context(acme.schema):
            return not liveness.runner_alive(exporting.EXPORT_TABLE, job.pk)

    _wait_for("the lock to go with the worker", gone, 10)
    page = client_for(acme, "admin").get(reverse("transfer:exports")).content.decode()
    with schema_context(acme.schema):
        job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and not job.file_path
    assert (
        job.message == "The export stopped without finishing (its process ended); start it again."
    )
    assert "its process ended" in page

    with schema_context(acme.schema):
        exporting.export_job_request(actor=admin, kind="customers", query=query, file_format="csv")
        again = ExportJob.objects.filter(query=query).exclude(pk=job.pk).get()
        exporting.export_run(again.pk)
        again.refresh_from_db()
    assert again.status == ExportJob.Status.DONE and again.rows_done == ROWS, again.message
