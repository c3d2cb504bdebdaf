import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

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
