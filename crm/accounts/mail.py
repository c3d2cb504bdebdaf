"""Emails to staff: invitations."""

from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from crm.accounts.models import Invitation
from crm.lib.mail_subject import subject_render
from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_site_url


def invitation_send(*, invitation: Invitation, token: str) -> None:
    tenant = Tenant.objects.get(schema_name=current_schema())
    path = reverse("invitation_accept", urlconf="crm.urls_tenant", kwargs={"token": token})
    with translation.override(tenant.language):
        context = {
            "tenant": tenant,
            "invitation": invitation,
            "inviter": invitation.invited_by,
            "accept_url": tenant_site_url(tenant) + path,
        }
        subject = subject_render("accounts/email/invitation_subject.txt", context)
        body = render_to_string("accounts/email/invitation_body.txt", context)
    send_mail(subject, body, None, [invitation.email])
