import zoneinfo
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.functional import LazyObject, empty

from crm.accounts import security
from crm.lib.tenancy import current_schema

SESSION_SCHEMA_KEY = "_crm_schema"


class SessionTenantBindingMiddleware:
    """A session belongs to the schema it was created in.

    Sessions already live in each tenant's own table, so another tenant's cookie finds nothing;
    this is the second lock, should a session row ever be readable from elsewhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            bound = request.session.get(SESSION_SCHEMA_KEY)
            if bound is None:
                request.session[SESSION_SCHEMA_KEY] = current_schema()
            elif bound != current_schema():
                logout(request)
        return self.get_response(request)


def _supported(code: str | None) -> str | None:
    if code and code in dict(settings.LANGUAGES):
        return code
    return None


class UserLocaleMiddleware:
    """Choose the language and time zone for a request.

    Language: the language cookie (set by the switcher), then the user's saved choice, then the
    workspace's language, then English. Time zone: the workspace's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        user = request.user
        language = (
            _supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
            or (_supported(user.language) if user.is_authenticated else None)
            or _supported(getattr(tenant, "language", None))
            or settings.LANGUAGE_CODE
        )
        translation.activate(language)
        request.LANGUAGE_CODE = language
        time_zone = getattr(tenant, "time_zone", None) or settings.TIME_ZONE
        timezone.activate(zoneinfo.ZoneInfo(time_zone))
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response


# Reachable by a signed-in user before the second factor: leaving, the language switcher (it
# may be needed to read the enrolment page) and the health check. Static files never get here.
TWO_FACTOR_EXEMPT = frozenset({"accounts:logout", "accounts:language_set", "healthz"})
TWO_FACTOR_SETUP = "accounts:two_factor_setup"
TWO_FACTOR_VERIFY = "accounts:two_factor_verify"


class TwoFactorMiddleware:
    """The one place two-factor sign-in is enforced; it must come after django-otp's
    OTPMiddleware, which tells whether this session has been verified with a device.

    A signed-in user whose session is not verified is sent to the verify page when they have
    an authenticator, or to the enrolment page when two-factor sign-in is required for them
    (crm.accounts.security.two_factor_required); nothing else opens until they are through.
    Users who need no second factor and have none pass untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        user = request.user = _unwrapped(request.user)
        if not user.is_authenticated or getattr(user, "otp_device", None) is not None:
            return None
        match = request.resolver_match
        name = match.view_name if match is not None else ""
        if name in TWO_FACTOR_EXEMPT or request.path.startswith(settings.STATIC_URL):
            return None
        if security.had_two_factor_when_loaded(user):
            target = TWO_FACTOR_VERIFY
        elif security.two_factor_required(user, getattr(request, "tenant", None)):
            target = TWO_FACTOR_SETUP
        else:
            return None
        if name == target:
            return None
        # Come back here afterwards, unless here was a form post, which cannot be replayed.
        comes_back = request.method == "GET" and name not in (TWO_FACTOR_SETUP, TWO_FACTOR_VERIFY)
        return _redirect(request, reverse(target), comes_back=comes_back)


def _unwrapped(user: Any) -> Any:
    """The user itself. django.contrib.auth hands it over in a lazy object and django-otp wraps
    that in another, so each later read of an attribute (templates, permission checks) went
    through both; by the time a view is chosen the user has been loaded anyway."""
    while isinstance(user, LazyObject):
        if user._wrapped is empty:
            user._setup()
        user = user._wrapped
    return user


def _redirect(request: HttpRequest, url: str, *, comes_back: bool) -> HttpResponse:
    if comes_back and request.get_full_path() != "/":
        url = f"{url}?{urlencode({'next': request.get_full_path()})}"
    if request.headers.get("HX-Request"):
        # An htmx request would swap the page into a fragment; make the browser navigate.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)
