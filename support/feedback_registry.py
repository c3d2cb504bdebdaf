"""Feedback surveys' registrations, made from support's AppConfig.ready: audited tables, the
timeline event of an answer, the erasure holder and the merge relations."""

from django.utils.translation import gettext_lazy as _

from crm.accounts.audit import audit_redact
from crm.accounts.audit_labels import register_table
from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register
from crm.tenants.seeding import register_seeder
from customers.customer_tabs import TimelineEvent, timeline_event_register
from customers.merge import merge_relation_register
from support.feedback_seeding import surveys_seed
from support.models_feedback import SurveyInvitation, SurveyResponse, SurveySend


def _erase_sends(erasure: Erasure) -> None:
    """An NPS send whose audience filter or name gives the person's name, email or phone
    loses that part (and is renamed); its audit entries are redacted."""
    touched = []
    for send in SurveySend.objects.only("id", "name", "audience_query"):
        query = erasure.scrubbed_query(send.audience_query)
        named = erasure.mentioned_in(send.name)
        if query == send.audience_query and not named:
            continue
        SurveySend.objects.filter(pk=send.pk).update(
            audience_query=query, name=f"Survey send #{send.pk}" if named else send.name
        )
        touched.append(str(send.pk))
    if touched:
        audit_redact(table_name=SurveySend._meta.db_table, record_ids=touched)


def _erase_surveys(erasure: Erasure) -> None:
    """Comments and the address a survey went to, and NPS sends' filters that name the
    person; the scores stay (reports), unattributable once the customer record is erased."""
    _erase_sends(erasure)
    ids = erasure.customer_ids
    SurveyInvitation.objects.filter(customer__in=ids, state=SurveyInvitation.State.PENDING).update(
        state=SurveyInvitation.State.SKIPPED, skip_reason=SurveyInvitation.Skip.ERASED
    )
    SurveyInvitation.objects.filter(customer__in=ids).update(email="", token_hash=None)
    responses = [
        str(pk)
        for pk in SurveyResponse.objects.filter(customer__in=ids).values_list("pk", flat=True)
    ]
    if not responses:
        return
    SurveyResponse.objects.filter(pk__in=responses).update(comment="", detractor_reason="")
    audit_redact(table_name=SurveyResponse._meta.db_table, record_ids=responses)


def register() -> None:
    register_table("support_feedbacksettings", _("Feedback settings"))
    register_table("support_surveysend", _("Survey send"))
    register_table("support_surveyresponse", _("Survey answer"))
    timeline_event_register(TimelineEvent(key="survey_answered", label=_("Survey answer")))
    erasure_holder_register(
        ErasureHolder(
            "support.surveys",
            _erase_surveys,
            "survey comments, the addresses surveys went to, NPS send filters naming the person",
            order=14,
        )
    )
    merge_relation_register(SurveyInvitation, "customer")
    merge_relation_register(SurveyResponse, "customer")
    # After the demo tickets (support's seeder, order 40), whose resolved ones it surveys.
    register_seeder("support_feedback", surveys_seed, order=45)
