"""Export tasks (imported by TransferConfig.ready so the worker registers them)."""

from celery import shared_task

from crm.lib.tenancy import current_schema
from crm.transfer import exporting


# acks_late as for imports (crm.transfer.tasks_imports): the run takes its job at most once.
@shared_task(name="crm.transfer.tasks_exports.export_run", acks_late=True)
def export_run_task(job_id: int) -> None:
    exporting.export_run(job_id)


@shared_task(name="crm.transfer.tasks_exports.exports_expire")
def exports_expire_task() -> dict[str, object]:
    """Daily, once per tenant (sent by the beat dispatcher)."""
    return {"schema": current_schema(), "deleted": exporting.exports_expire()}
