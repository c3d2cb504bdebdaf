"""The public web form on the tenant's host (/help/): no sign-in; customers open a ticket and
get its reference. Guards (support.web_form): CSRF, a honeypot, a signed form timestamp, a
link limit, and rate limits per address and per email or phone (429). Turned off in the
settings, it is a 404. Its settings page (support.views_web_form.web_form_settings_page) is
for those who configure support."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from crm.accounts.audit import client_ip
from crm.accounts.permissions import acting_user
from crm.lib.audit_actor import audit_actor
from support import portal_services, web_form
from support.forms_web_form import HONEYPOT, WebFormSettingsForm, WebTicketForm
from support.models_portal import WebFormSettings
from support.permissions import support_configurer_required
from support.selectors import categories as categories_in_use

SYSTEM_ACTOR = "system: web form"


def _in_language(request: HttpRequest, render_page: Callable[[], HttpResponse]) -> HttpResponse:
    language = web_form.page_language(request)
    with translation.override(language):
        request.LANGUAGE_CODE = language
        response = render_page()
    response.headers["Content-Language"] = language
    patch_vary_headers(response, ("Accept-Language",))
    return response


def _limited(request: HttpRequest) -> HttpResponse:
    response = render(request, "support/web_form/limited.html", status=429)
    response["Retry-After"] = str(web_form.limit("WINDOW_SECONDS"))
    return response


@never_cache
@csrf_protect
def web_form_page(request: HttpRequest) -> HttpResponse:
    settings = web_form.web_form_settings()
    if not settings.enabled:
        raise Http404
    return _in_language(request, lambda: _form_page(request, settings))


def _form_page(request: HttpRequest, settings: WebFormSettings) -> HttpResponse:
    if request.method != "POST":
        form = WebTicketForm(
            initial={"stamp": web_form.form_stamp()}, categories=settings.categories
        )
        return _render_form(request, form, settings)
    if not web_form.address_allowed(request):
        return _limited(request)
    form = WebTicketForm(request.POST, categories=settings.categories)
    if not form.is_valid():
        return _render_form(request, form, settings, status=400)
    data = form.cleaned_data
    contact = web_form.contact_of(data.get("email") or "", data.get("phone") or "")
    if not web_form.contact_allowed(contact):
        return _limited(request)
    try:
        with audit_actor(SYSTEM_ACTOR, ip=client_ip(request)):
            ticket = portal_services.web_form_ticket_create(
                actor=None,
                data=portal_services.WebFormRequest(
                    name=data["name"],
                    email=data.get("email") or "",
                    phone=data.get("phone") or "",
                    subject=data["subject"],
                    description=data["description"],
                    category=data.get("category") or "",
                ),
            )
    except ValidationError as exc:
        for field, problems in exc.message_dict.items() if hasattr(exc, "error_dict") else []:
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
        if not hasattr(exc, "error_dict"):
            form.add_error(None, " ".join(exc.messages))
        return _render_form(request, form, settings, status=400)
    return redirect("web_form:sent", token=web_form.sent_token(ticket.number))


def _render_form(
    request: HttpRequest, form: WebTicketForm, settings: WebFormSettings, status: int = 200
) -> HttpResponse:
    if form.is_bound:
        # A refused form is drawn again with its own stamp when that one is still good (the
        # fill time keeps counting), else a new one.
        stamp = form.data.get("stamp", "")
        if web_form.stamp_problem(stamp) in ("old", "missing"):
            stamp = web_form.form_stamp()
        data = QueryDict(mutable=True)
        data.update(form.data)
        data["stamp"] = stamp
        data[HONEYPOT] = ""
        form.data = data
    return render(
        request,
        "support/web_form/form.html",
        {"form": form, "intro": settings.intro, "honeypot": HONEYPOT},
        status=status,
    )


@never_cache
def web_form_sent(request: HttpRequest, token: str) -> HttpResponse:
    settings = web_form.web_form_settings()
    if not settings.enabled:
        raise Http404
    number = web_form.sent_number(token)
    if number is None:
        return redirect("web_form:form")
    from support.models import ticket_reference

    reference = ticket_reference(number)
    return _in_language(
        request,
        lambda: render(request, "support/web_form/sent.html", {"reference": reference}),
    )


@support_configurer_required
def web_form_settings_page(request: HttpRequest) -> HttpResponse:
    settings = web_form.web_form_settings()
    initial = {
        "enabled": settings.enabled,
        "intro": settings.intro,
        "categories": "\n".join(settings.categories),
    }
    form = WebFormSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            portal_services.web_form_settings_save(
                actor=acting_user(request),
                enabled=form.cleaned_data["enabled"],
                intro=form.cleaned_data["intro"],
                categories=form.category_list(),
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            messages.success(request, _("Web form settings saved."))
            return redirect("support:web_form_settings")
    return render(
        request,
        "support/web_form_settings.html",
        {
            "nav_section": "support",
            "form": form,
            "settings": settings,
            "public_url": request.build_absolute_uri(reverse("web_form:form")),
            "in_use": [c for c in categories_in_use() if c not in settings.categories][:20],
            "can_configure": True,
        },
    )
