"""The worker's side of a hostile workbook (issue 13): its check died with the web worker's
SIGABRT and the job stayed "checking" for ever; now it fails with the message. Not in a test
transaction: the worker must see the job."""

import time

from django_tenants.utils import schema_context

from crm.transfer import services
from crm.transfer.models import ImportJob
from tests.transfer.test_hostile_files import _manager, _start, _two_rows_and


def test_the_worker_fails_the_check_of_a_far_value_with_the_message(
    committed_db, celery_worker, acme, tmp_path
):
    path = _two_rows_and("XFD1048576", tmp_path / "far.xlsx")
    job = _start(acme, path.read_bytes(), "far-worker.xlsx")
    try:
        with schema_context(acme.schema):
            job = services.import_check_request(actor=_manager(acme), job=job, inline=False)
        assert job.status == ImportJob.Status.CHECKING
        deadline = time.monotonic() + 60
        while job.status == ImportJob.Status.CHECKING and time.monotonic() < deadline:
            time.sleep(0.3)
            with schema_context(acme.schema):
                job.refresh_from_db()
        assert job.status == ImportJob.Status.FAILED, job.status
        assert "Cell XFD1048576 holds a value in column XFD" in job.message
    finally:
        with schema_context(acme.schema):
            ImportJob.objects.filter(pk=job.pk).delete()
