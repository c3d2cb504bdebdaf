"""Survey emails: claim each pending invitation, then mail its link (Django email, in the
customer's language). A claim is made before the mail goes (support.feedback_services), so a
redelivered task never mails a link twice; a refused mail voids its link."""

import logging
import smtplib
from collections.abc import Iterable

from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from crm.lib.mail_subject import subject_render
from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_site_url
from support import feedback_services
from support.feedback_rules import skip_reason
from support.feedback_selectors import contact_facts
from support.models_feedback import SurveyInvitation

logger = logging.getLogger(__name__)


def survey_url(tenant: Tenant, token: str) -> str:
    path = reverse("survey_answer", urlconf="crm.urls_tenant", kwargs={"token": token})
    return tenant_site_url(tenant) + path


def surveys_deliver(invitation_ids: Iterable[int]) -> int:
    """Send the pending invitations among `invitation_ids`; returns how many were mailed."""
    tenant = Tenant.objects.get(schema_name=current_schema())
    waiting = list(
        SurveyInvitation.objects.filter(
            pk__in=list(invitation_ids), state=SurveyInvitation.State.PENDING
        )
        .select_related("customer", "ticket")
        .order_by("id")
    )
    # Consent and the address are looked at again: either may have gone since the decision.
    facts = {f.customer_id: f for f in contact_facts([i.customer_id for i in waiting])}
    withheld = {
        i.pk: skip_reason(facts.get(i.customer_id))
        for i in waiting
        if skip_reason(facts.get(i.customer_id))
    }
    if withheld:
        feedback_services.survey_invitations_withhold(actor=None, reasons=withheld)
    sent = 0
    for invitation in waiting:
        if invitation.pk in withheld:
            continue
        token = feedback_services.survey_invitation_claim(actor=None, invitation_id=invitation.pk)
        if token is None:
            continue  # another worker has it
        language = invitation.language if invitation.language in ("en", "zh-hans") else "en"
        with translation.override(language):
            context = {
                "tenant": tenant,
                "invitation": invitation,
                "name": invitation.customer.name,
                "ticket": invitation.ticket,
                "survey_url": survey_url(tenant, token),
            }
            subject = subject_render("support/feedback/email/subject.txt", context)
            body = render_to_string("support/feedback/email/body.txt", context)
        try:
            send_mail(subject, body, None, [invitation.email])
        except (smtplib.SMTPException, OSError):
            logger.warning("survey %s: the mail relay refused it", invitation.pk, exc_info=True)
            feedback_services.survey_invitation_failed(actor=None, invitation_id=invitation.pk)
            continue
        sent += 1
    return sent
