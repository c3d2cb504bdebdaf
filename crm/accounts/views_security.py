"""Two-factor sign-in pages (enrol, verify, recovery codes) and the administrator's security
page (lockouts and everyone's two-factor status, with unlock and reset).

Who must see which page is decided once, in crm.accounts.middleware.TwoFactorMiddleware."""

import base64
import io
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from crm.accounts import security
from crm.accounts.audit import audit_record, client_ip
from crm.accounts.lockout import cooloff_minutes
from crm.accounts.models import User
from crm.accounts.permissions import acting_user, admin_required
from crm.lib.redirects import local_url
from crm.tenants import services as tenant_services


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        help_text=gettext_lazy(
            "The 6-digit code your authenticator app shows, or one of your recovery codes."
        ),
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "one-time-code",
                "autocapitalize": "off",
                "spellcheck": "false",
            }
        ),
    )


def _next_url(request: HttpRequest) -> str:
    return local_url(request, request.POST.get("next") or request.GET.get("next") or "/", "/")


def _is_verified(user: Any) -> bool:
    # Set by django-otp's OTPMiddleware: the device this session was verified with.
    return getattr(user, "otp_device", None) is not None


def _qr_data_uri(text: str) -> str:
    """A QR code as an SVG data URI: drawn on the server, and allowed by our CSP (img-src
    data:) where a script-drawn one would not be."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(
        buffer, kind="svg", scale=5, border=2, light="#fff", xmldecl=False
    )
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _issuer(request: HttpRequest) -> str:
    tenant = getattr(request, "tenant", None)
    if security.is_platform_site(tenant):
        return _("CRM platform")
    return str(getattr(tenant, "name", "")) or _("CRM platform")


def _verified_now(request: HttpRequest, device: Any) -> None:
    # A new session key at the moment the session gains rights, as at login.
    request.session.cycle_key()
    otp_login(request, device)


def _show_recovery_codes(request: HttpRequest, codes: list[str]) -> HttpResponse:
    """The one time the codes are shown: never cached, never kept in the session."""
    response = render(
        request,
        "accounts/security/recovery_codes.html",
        {"codes": [f"{code[:4]}-{code[4:]}" for code in codes], "next": _next_url(request)},
    )
    add_never_cache_headers(response)
    return response


# --- the user's own two-factor sign-in -----------------------------------------------------


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app, or (once enrolled) see the status and renew recovery codes.

    TwoFactorMiddleware sends an enrolled but unverified session to the verify page first, so
    the status page is only ever shown to a verified session."""
    user: User = request.user  # type: ignore[assignment]
    required = security.two_factor_required(user, getattr(request, "tenant", None))
    if security.has_two_factor(user):
        return render(
            request,
            "accounts/security/two_factor_status.html",
            {"required": required, "codes_left": security.recovery_codes_left(user)},
        )
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = security.totp_confirm(
                user=user, code=form.cleaned_data["code"], ip=client_ip(request)
            )
        except ValidationError as exc:
            form.add_error("code", exc)
        else:
            _verified_now(request, device)
            return _show_recovery_codes(request, codes)
    device = security.totp_pending(user=user)
    response = render(
        request,
        "accounts/security/two_factor_setup.html",
        {
            "form": form,
            "required": required,
            "qr_code": _qr_data_uri(security.totp_uri(device, issuer=_issuer(request))),
            "secret": security.totp_secret_text(device),
            "next": _next_url(request),
        },
    )
    add_never_cache_headers(response)  # it carries the secret
    return response


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    user: User = request.user  # type: ignore[assignment]
    next_url = _next_url(request)
    if _is_verified(user):
        return render(
            request,
            "accounts/security/two_factor_verify.html",
            {"verified": True, "next": next_url},
        )
    if not security.has_two_factor(user):
        # Nothing to verify with; the middleware sends those who need one to enrolment.
        return redirect(next_url)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = security.two_factor_verify(
            user=user, code=form.cleaned_data["code"], ip=client_ip(request)
        )
        if result.device is not None:
            _verified_now(request, result.device)
            return redirect(next_url)
        form.add_error(
            "code",
            _("Too many wrong codes. Wait a minute, then enter the current code.")
            if result.throttled
            else _("That code is not right, or it was already used. Try the current code."),
        )
    return render(
        request, "accounts/security/two_factor_verify.html", {"form": form, "next": next_url}
    )


@login_required
@require_POST
def two_factor_recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes in place of the old ones (the middleware has verified the session)."""
    try:
        codes = security.recovery_codes_renew(
            user=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:two_factor_setup")
    return _show_recovery_codes(request, codes)


# --- the administrator's security page ------------------------------------------------------


@admin_required
def security_overview(request: HttpRequest) -> HttpResponse:
    tenant = getattr(request, "tenant", None)
    return render(
        request,
        "accounts/security/overview.html",
        {
            "lockouts": security.lockouts(),
            "staff": security.staff_two_factor(tenant),
            "everyone_required": bool(getattr(tenant, "require_two_factor", False)),
            "on_platform": security.is_platform_site(tenant),
            "minutes": cooloff_minutes(),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
    )


@admin_required
@require_POST
def security_policy(request: HttpRequest) -> HttpResponse:
    """A tenant admin turns "two-factor for all staff" on or off (operators set it in the
    console for any tenant)."""
    tenant = getattr(request, "tenant", None)
    if tenant is None or security.is_platform_site(tenant):
        raise Http404
    required = request.POST.get("require_two_factor") == "on"
    tenant_services.tenant_two_factor_require(
        actor=acting_user(request), tenant=tenant, required=required
    )
    audit_record(
        action="two_factor_policy",
        actor=acting_user(request),
        ip=client_ip(request),
        detail={"require_two_factor": required},
    )
    messages.success(
        request,
        _("Two-factor sign-in is now required for all staff.")
        if required
        else _("Two-factor sign-in is now required for administrators only."),
    )
    return redirect("accounts:security")


@admin_required
@require_POST
def security_unlock(request: HttpRequest, email: str) -> HttpResponse:
    cleared = security.lockout_clear(actor=acting_user(request), email=email)
    if not cleared:
        # Not locked here: nothing to act on (and another tenant's lockouts are not ours).
        raise Http404
    messages.success(request, _("%(email)s can sign in again.") % {"email": email})
    return redirect("accounts:security")


@admin_required
@require_POST
def security_two_factor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id)
    security.two_factor_reset(actor=acting_user(request), user=member)
    messages.success(
        request,
        _(
            "Two-factor sign-in of %(name)s is reset. If it is required for them, they set it up "
            "again at their next sign-in."
        )
        % {"name": member},
    )
    return redirect("accounts:security")
