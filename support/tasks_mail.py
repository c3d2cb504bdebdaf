"""Celery tasks of support's email: thin wrappers over support.mail_outbound (imported by
support.tasks, which Celery discovers)."""

import datetime

from celery import shared_task

from crm.lib.tenancy import current_schema
from support import mail_notices, mail_outbound

# A reply still pending after this long lost its task (a broker restart): the sweep resends.
SWEEP_AFTER = datetime.timedelta(minutes=15)


@shared_task(bind=True, name="support.tasks.reply_send", max_retries=mail_outbound.MAX_ATTEMPTS)
def reply_send_task(self, message_id: int) -> dict[str, object]:
    """Email one public reply. Idempotent (the claim decides); a failure is retried with a
    growing delay until the reply is marked failed."""
    outcome = mail_outbound.reply_send(message_id=message_id)
    if outcome.retry:
        raise self.retry(countdown=mail_outbound.backoff_seconds(self.request.retries))
    return {"schema": current_schema(), "message": message_id, "sent": outcome.sent}


@shared_task(name="support.tasks.replies_sweep")
def replies_sweep_task() -> dict[str, object]:
    """Every few minutes, per tenant: send replies whose task never ran."""
    pending = mail_outbound.replies_pending(SWEEP_AFTER)
    for message_id in pending:
        reply_send_task.delay(message_id)
    return {"schema": current_schema(), "queued": len(pending)}


@shared_task(name="support.tasks.sla_notices_email")
def sla_notices_email_task() -> dict[str, object]:
    """Every few minutes, per tenant: email the SLA notices the scan made (each once)."""
    result = mail_notices.sla_notices_send()
    return {"schema": current_schema(), "sent": result.sent, "failed": result.failed}
