from celery import shared_task

from crm.lib.tenancy import current_schema
from customers.services import stages_derive


@shared_task(name="customers.tasks.stages_derive")
def stages_derive_task() -> dict[str, object]:
    """Nightly, once per tenant (sent by the beat dispatcher): lifecycle stages from orders."""
    return {"schema": current_schema(), "changed": stages_derive()}
