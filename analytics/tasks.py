"""Analytics tasks: thin and idempotent; they write as "system: <task name>" unless the job
names who asked for it."""

from typing import Any

from celery import shared_task

from analytics import refresh_jobs
from crm.lib.tenancy import current_schema


@shared_task(name="analytics.tasks.refresh_job_run")
def refresh_job_run_task(job_id: int) -> dict[str, Any]:
    job = refresh_jobs.refresh_job_run(job_id)
    return {"schema": current_schema(), "job": job_id, "status": job.status if job else None}


@shared_task(name="analytics.tasks.refresh_nightly")
def refresh_nightly_task() -> dict[str, Any]:
    """Beat's nightly entry, sent to every tenant by crm.tenants.tasks.tenants_dispatch."""
    job = refresh_jobs.refresh_nightly()
    return {
        "schema": current_schema(),
        "job": job.pk if job else None,
        "status": job.status if job else None,
    }
