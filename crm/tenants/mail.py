"""Emails the platform sends to a tenant's people."""

from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from crm.lib.mail_subject import subject_render
from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_site_url


def password_set_url(*, tenant: Tenant, user: object) -> str:
    """A single-use link (Django's reset token) for the user to choose a password."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))  # type: ignore[attr-defined]
    token = default_token_generator.make_token(user)  # type: ignore[arg-type]
    path = reverse(
        "accounts:password_reset_confirm",
        urlconf="crm.urls_tenant",
        kwargs={"uidb64": uid, "token": token},
    )
    return tenant_site_url(tenant) + path


def owner_welcome_send(*, tenant: Tenant, user: object) -> None:
    """Tell a new tenant's owner that the workspace is ready and how to get in."""
    with translation.override(tenant.language):
        context = {
            "tenant": tenant,
            "user": user,
            "site_url": tenant_site_url(tenant),
            "password_url": password_set_url(tenant=tenant, user=user),
        }
        subject = subject_render("tenants/email/welcome_subject.txt", context)
        body = render_to_string("tenants/email/welcome_body.txt", context)
    send_mail(subject, body, None, [user.email])  # type: ignore[attr-defined]
