"""Survey tasks: thin and idempotent (the invitations' unique key, the fatigue claim and the
conditional claim before sending decide; a redelivered task changes nothing)."""

from celery import shared_task

from crm.lib.tenancy import current_schema
from support import feedback_services
from support.feedback_mail import surveys_deliver
from support.models_feedback import SurveyInvitation, SurveySend

# Rounds of 500 tickets one run of the scan decides at most (the rest wait for the next run).
ROUNDS = 20


@shared_task(name="support.feedback_tasks.surveys_on_resolve")
def surveys_on_resolve_task() -> dict[str, object]:
    """Every few minutes, once per tenant (the beat dispatcher): CSAT/CES invitations of
    tickets resolved the settings' delay ago, mailed; and any invitation a dead worker left
    pending, mailed now."""
    decided = sent = 0
    for _round in range(ROUNDS):
        decided_round = feedback_services.surveys_on_resolve_decide(actor=None)
        if not decided_round.tickets:
            break
        decided += decided_round.tickets
        sent += surveys_deliver(decided_round.pending)
    stale = list(
        SurveyInvitation.objects.filter(state=SurveyInvitation.State.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)[:2000]
    )
    sent += surveys_deliver(stale)
    return {"schema": current_schema(), "decided": decided, "sent": sent}


@shared_task(name="support.feedback_tasks.survey_send_plan")
def survey_send_plan_task(send_id: int) -> int:
    """Plan an NPS send and hand its chunks (about 500 customers each) to workers."""
    send = SurveySend.objects.filter(pk=send_id).first()
    if send is None:
        return 0
    chunks = feedback_services.survey_send_plan(actor=None, send=send)
    for chunk in chunks:
        survey_send_chunk_task.delay(send_id, chunk)
    return len(chunks)


@shared_task(name="support.feedback_tasks.survey_send_chunk")
def survey_send_chunk_task(send_id: int, customer_ids: list[int]) -> int:
    send = SurveySend.objects.filter(pk=send_id).first()
    if send is None:
        return 0
    ids = feedback_services.survey_send_chunk_decide(
        actor=None, send=send, customer_ids=customer_ids
    )
    # Also this send's invitations an earlier, interrupted run of this chunk left pending.
    waiting = SurveyInvitation.objects.filter(
        send=send, customer_id__in=customer_ids, state=SurveyInvitation.State.PENDING
    ).values_list("pk", flat=True)
    sent = surveys_deliver(set(ids) | set(waiting))
    feedback_services.survey_send_finish(actor=None, send=send)
    return sent
