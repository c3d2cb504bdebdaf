from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class ContentSecurityPolicyMiddleware:
    """Send one strict CSP on every response: all scripts and styles are our own static files."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CRM_CONTENT_SECURITY_POLICY)
        return response


class PrivateResponseMiddleware:
    """Every answer to a signed-in user may carry personal data (pages, exports, attachments,
    reports): no browser, proxy or shared computer may keep a copy. Static files never get
    here (WhiteNoise answers them earlier), so they stay cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
