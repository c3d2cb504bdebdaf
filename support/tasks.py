from celery import shared_task

from crm.lib.tenancy import current_schema
from support.services_settings import sla_scan


@shared_task(name="support.tasks.sla_scan")
def sla_scan_task() -> dict[str, object]:
    """Every few minutes, once per tenant (the beat dispatcher): SLA warnings, breaches and
    escalations recorded as notices. Idempotent: the notices' unique key decides."""
    result = sla_scan(actor=None)
    return {
        "schema": current_schema(),
        "near": result.near,
        "breached": result.breached,
        "escalated": result.escalated,
    }


# Feedback surveys' and email's tasks live in their own modules; imported here so the worker
# finds them.
from support import feedback_tasks, tasks_mail  # noqa: E402, F401
