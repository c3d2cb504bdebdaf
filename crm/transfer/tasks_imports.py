"""Import tasks (imported by TransferConfig.ready so the worker registers them). Each runs in the
schema it was sent from (tenant-schemas-celery) and is idempotent: the job's status says whether
the work is still to do, so a redelivered task changes nothing."""

from celery import shared_task

from crm.lib.tenancy import current_schema
from crm.transfer import services

# acks_late: a task whose worker was killed before it took its job comes back (on Redis,
# after the visibility timeout) instead of being lost; safe because each run takes its job at
# most once (services._as_runner), so a redelivered task settles a job whose run died rather
# than repeating it. reject_on_worker_lost stays off: a pool child that dies mid-run acks its
# message, and the job is settled by its liveness lock (crm.lib.liveness), not by redelivery.


@shared_task(name="crm.transfer.tasks_imports.import_check", acks_late=True)
def import_check_task(job_id: int) -> None:
    services.import_check_run(job_id)


@shared_task(name="crm.transfer.tasks_imports.import_commit", acks_late=True)
def import_commit_task(job_id: int, actor_id: int | None) -> None:
    services.import_commit_run(job_id, actor_id)


@shared_task(name="crm.transfer.tasks_imports.import_undo", acks_late=True)
def import_undo_task(job_id: int, actor_id: int | None) -> None:
    services.import_undo_run(job_id, actor_id)


@shared_task(name="crm.transfer.tasks_imports.imports_expire")
def imports_expire_task() -> dict[str, object]:
    """Daily, once per tenant (sent by the beat dispatcher)."""
    return {"schema": current_schema(), "cleared": services.imports_expire()}
