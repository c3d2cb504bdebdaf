from celery import shared_task

from crm.lib.tenancy import current_schema
from customers.services import stages_derive


@shared_task(name="customers.tasks.stages_derive")
def stages_derive_task() -> dict[str, object]:
    """Nightly, once per tenant (sent by the beat dispatcher): lifecycle stages from orders."""
    return {"schema": current_schema(), "changed": stages_derive(actor=None)}


@shared_task(name="customers.tasks.duplicates_refresh")
def duplicates_refresh_task() -> dict[str, object]:
    """Nightly per tenant (beat dispatcher), or on demand from the duplicates queue: bring the
    queue of possible duplicates up to date. Idempotent."""
    from django.utils import timezone

    from customers.duplicates import refresh_state_set
    from customers.merge import duplicate_pairs_refresh

    result = duplicate_pairs_refresh(actor=None)
    refresh_state_set(running="", last=timezone.now().isoformat())
    return {"schema": current_schema(), **result}
