from typing import Any

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import services
from crm.accounts.audit import audit_record, client_ip
from crm.accounts.forms import EmailAuthenticationForm, InvitationAcceptForm, LanguageForm
from crm.accounts.permissions import acting_user
from crm.accounts.reset_limit import reset_allowed


class AuditedLoginView(auth_views.LoginView):
    """Django's login, recording each sign-in and failed sign-in in the audit log."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(action="login", actor=form.get_user(), ip=client_ip(self.request))
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        attempted = str(form.data.get("username", "")).strip().lower()[:254]
        if attempted:
            audit_record(
                action="login_failed",
                actor=attempted,
                ip=client_ip(self.request),
                detail={"email": attempted},
            )
        return super().form_invalid(form)


class AuditedLogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            audit_record(action="logout", actor=acting_user(request), ip=client_ip(request))
        return super().post(request, *args, **kwargs)


login = AuditedLoginView.as_view(
    template_name="accounts/login.html",
    authentication_form=EmailAuthenticationForm,
    redirect_authenticated_user=True,
)
logout = AuditedLogoutView.as_view()


class LimitedPasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, refused (429, nothing sent) past crm.accounts.reset_limit's limits."""

    def form_valid(self, form: Any) -> HttpResponse:
        if not reset_allowed(self.request, form.cleaned_data.get("email")):
            form.add_error(
                None,
                _("Too many reset links were asked for. Wait an hour and try again."),
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


password_reset = LimitedPasswordResetView.as_view(
    template_name="accounts/password_reset_form.html",
    email_template_name="accounts/email/password_reset_body.txt",
    subject_template_name="accounts/email/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html",
    success_url=reverse_lazy("accounts:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """Switch the interface language: a cookie for this browser, and the account's preference."""
    form = LanguageForm(request.POST)
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    if form.is_valid():
        language = form.cleaned_data["language"]
        if request.user.is_authenticated:
            services.language_set(
                actor=acting_user(request), user=acting_user(request), language=language
            )
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=60 * 60 * 24 * 365,
            samesite="Lax",
            secure=request.is_secure(),
            httponly=True,
        )
    return response


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html")


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens: choose a name and password, then you are in."""
    invitation = services.invitation_for_token(token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    form = InvitationAcceptForm(
        request.POST or None,
        email=invitation.email,
        initial={"full_name": invitation.full_name},
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            auth_login(request, user, backend="crm.accounts.backends.PermissionBackend")
            audit_record(action="login", actor=user, ip=client_ip(request))
            return redirect("home")
    return render(
        request, "accounts/invitation_accept.html", {"form": form, "invitation": invitation}
    )
