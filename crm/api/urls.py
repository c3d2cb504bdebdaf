"""/api/v1/ on a tenant's host: the operations apps registered, the OpenAPI document, the docs
page, an index, and a JSON 404 for any other address under it."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern, URLResolver, re_path, reverse

from crm.api.errors import error_response
from crm.api.site import api_build

app_name = "api"
api = api_build()


def index(request: HttpRequest, **kwargs: object) -> HttpResponse:
    """What /api/v1/ offers, for a person trying it out."""
    return JsonResponse(
        {"openapi": reverse("api:openapi-json"), "docs": reverse("api:openapi-view")}
    )


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return error_response(404, "not_found", "Nothing is found at this address.")


def _json_refusals(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ninja answers a wrong method with a plain-text 405; ours is JSON like every refusal
    (functools.wraps keeps the view's csrf_exempt)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            return error_response(
                405, "method_not_allowed", f"Use {allowed} here.", headers={"Allow": allowed}
            )
        return response

    return wrapped


def _patterns() -> list[URLPattern | URLResolver]:
    patterns = []
    for pattern in api.urls[0]:
        if isinstance(pattern, URLPattern):
            if pattern.name == "api-root":
                # Ninja's root raises a 404 page; ours says where the docs are.
                pattern.callback = index
            else:
                pattern.callback = _json_refusals(pattern.callback)
        patterns.append(pattern)
    return patterns


urlpatterns = [*_patterns(), re_path(r"^(?P<rest>.*)$", not_found, name="not_found")]
