"""The refresh through the real Celery worker: the page's button and the nightly dispatcher."""

import datetime
import time

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from analytics.models import RefreshJob, RfmScore, RfmSnapshot, RfmSnapshotEntry
from crm.accounts.models import AuditEntry
from tests.analytics.helpers import AS_OF, five_buyers
from tests.conftest import client_for
from tests.testkit.cleanup import customers_delete


def _wait_for(schema: str, job_id: int | None = None, seconds: float = 60) -> RefreshJob:
    deadline = time.monotonic() + seconds
    while True:
        with schema_context(schema):
            jobs = RefreshJob.objects.order_by("-id")
            job = jobs.get(pk=job_id) if job_id else jobs.first()
            if job is not None and job.status in ("done", "failed"):
                return job
        if time.monotonic() > deadline:
            raise AssertionError(f"refresh job still {job and job.status}")
        time.sleep(0.3)


def _clean(schema: str, customer_ids: list[int]) -> None:
    with schema_context(schema):
        RfmScore.objects.all().delete()
        RfmSnapshotEntry.objects.all().delete()
        RfmSnapshot.objects.all().delete()
        RefreshJob.objects.all().delete()
        customers_delete(customer_ids)


@pytest.mark.worker
def test_the_refresh_button_runs_in_the_worker(committed_db, celery_worker, acme):
    with schema_context(acme.schema):
        people = five_buyers()
    try:
        client = client_for(acme, "manager")
        response = client.post(reverse("analytics:rfm_refresh"), {"as_of": AS_OF.isoformat()})
        assert response.status_code == 302
        job = _wait_for(acme.schema)
        assert job.status == "done", job.error
        assert job.requested_by_id == acme.users["manager"].pk
        with schema_context(acme.schema):
            assert RfmScore.objects.filter(segment="loyal").count() == 2
            entry = AuditEntry.objects.filter(action="analytics_refresh").latest("id")
            assert entry.actor_id == acme.users["manager"].pk
        page = client.get(reverse("analytics:rfm")).content.decode()
        assert "Last refresh finished" in page
    finally:
        _clean(acme.schema, [p.pk for p in people.values()])


@pytest.mark.worker
def test_the_nightly_dispatcher_refreshes_each_tenant(committed_db, celery_worker, acme, globex):
    from crm.tenants.tasks import tenants_dispatch

    with schema_context(acme.schema):
        people = five_buyers()
    try:
        tenants_dispatch.delay("analytics.tasks.refresh_nightly").get(timeout=30)
        job = _wait_for(acme.schema)
        assert job.status == "done" and job.requested_by is None
        with schema_context(acme.schema):
            # Today: every order of the set is in the past, A's is the latest.
            assert RfmScore.objects.count() == 6  # H's order after 30 June counts today
            entry = AuditEntry.objects.filter(action="analytics_refresh").latest("id")
            assert entry.actor_label == "system: analytics.tasks.refresh_nightly"
            assert RfmSnapshot.objects.get().as_of >= datetime.date(2026, 7, 5)
        # globex has no orders: its refresh ran and scored nobody.
        other = _wait_for(globex.schema)
        assert other.status == "done" and other.summary["steps"]["rfm"]["scored"] == 0
    finally:
        _clean(acme.schema, [p.pk for p in people.values()])
        _clean(globex.schema, [])
