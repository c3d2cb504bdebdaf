"""The one API object, built from the registered routers (crm.api.registry)."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from ninja import NinjaAPI, Swagger

from crm.api.auth import TokenAuth, token_acts
from crm.api.errors import install_handlers
from crm.api.parsing import StrictJsonParser
from crm.api.registry import api_routers

DESCRIPTION = """The CRM's JSON API for point-of-sale and other systems, on your workspace's
own address. Send `Authorization: Bearer <token>` with a token an administrator made on the
admin console's "API tokens" page; a token works only on its own workspace. Errors are
`{"error": "<code>", "detail": "<text>"}`. See docs/api.md for the full guide."""


class CrmApi(NinjaAPI):
    def create_response(
        self, request: HttpRequest, data: Any, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = super().create_response(request, data, *args, **kwargs)
        # Answers carry customers' data: no browser or proxy may keep a copy.
        add_never_cache_headers(response)
        return response


def api_build() -> NinjaAPI:
    api = CrmApi(
        title="CRM API",
        version="1",
        description=DESCRIPTION,
        urls_namespace="api",
        # Ninja's Swagger page loads its script and styles from our static files, with its
        # settings in a JSON block (no inline script), so it works offline under our CSP.
        docs=Swagger(settings={"persistAuthorization": False}),
        docs_url="/docs",
        parser=StrictJsonParser(),
    )
    install_handlers(api)
    api.add_decorator(token_acts)
    for entry in api_routers():
        api.add_router(entry.prefix, entry.router, auth=TokenAuth(entry.scope), tags=[entry.tag])
    return api
