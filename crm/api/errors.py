"""Every answer the API gives for a refusal: JSON `{"error": "<code>", "detail": "<text>"}`
with its status. Bad input of any kind is a 4xx, never a 500."""

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal with its status, code and readable detail; extra headers (Retry-After) and
    fields ride along."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def error_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    response = JsonResponse({"error": code, "detail": detail, **(extra or {})}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


# The code of an HttpError raised by the framework itself, by status.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
}


def _place(loc: Any) -> str:
    """Where a validation error is, as the client wrote it: "customer.phone", "header
    Idempotency-Key". Ninja adds the parameter kind and the view argument's name."""
    parts = [str(p) for p in loc]
    kind = parts[0] if parts else ""
    if kind == "body":
        return ".".join(parts[2:]) or "body"
    return " ".join([kind, *parts[1:]]).strip()


def validation_detail(errors: list[dict[str, Any]]) -> str:
    """One readable line per problem; never the value that was sent (it may be personal)."""
    lines = []
    for error in errors[:20]:
        place = _place(error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{place}: {message}" if place else message)
    return "; ".join(lines) or "The request is not valid."


def install_handlers(api: NinjaAPI) -> None:
    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(
            exc.status, exc.code, exc.detail, headers=exc.headers, extra=exc.extra
        )

    def invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return error_response(400, "invalid_request", validation_detail(exc.errors))

    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            401,
            "unauthorized",
            "Send a valid API token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        # The body parser's own refusals come wrapped; show ours as they are.
        if isinstance(exc.__cause__, ApiError):
            return api_error(request, exc.__cause__)
        if exc.status_code == 400 and isinstance(exc.__cause__, Exception):
            return error_response(400, "invalid_json", "The body is not valid JSON.")
        code = _CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc))

    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "not_found", "Nothing is found at this address.")

    def refused(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        # A service's refusal the endpoint did not turn into its own error.
        return error_response(400, "invalid", " ".join(exc.messages))

    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        if isinstance(exc, RequestDataTooBig):
            return body_too_large()
        logger.exception("API request failed: %s %s", request.method, request.path)
        return error_response(500, "server_error", "Something went wrong on our side.")

    # The most specific class wins (ninja walks the exception's MRO).
    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (Exception, unexpected),
        (DjangoValidationError, refused),
        (Http404, not_found),
        (HttpError, http_error),
        (AuthenticationError, unauthenticated),
        (NinjaValidationError, invalid),
        (ApiError, api_error),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)


def body_too_large() -> HttpResponse:
    from django.conf import settings

    return error_response(
        400,
        "body_too_large",
        f"The body is larger than {settings.API_MAX_BODY_BYTES} bytes.",
    )
