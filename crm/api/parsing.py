"""Reading a request body: size first (crm.api.auth checks the declared length; this checks
what arrived), then strict JSON. Text PostgreSQL cannot store (NUL) and numbers JSON does not
have (NaN, Infinity) are refused here, so they never reach a query as a 500."""

import json
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest
from ninja.parser import Parser
from ninja.types import DictStrAny

from crm.api.errors import ApiError


def _no_constant(name: str) -> Any:
    raise ApiError(400, "invalid_json", f"{name} is not a JSON number.")


def _nul_check(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ApiError(400, "invalid_json", "Text may not contain NUL characters.")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> DictStrAny:
        body = request.body
        if len(body) > settings.API_MAX_BODY_BYTES:
            raise ApiError(
                400,
                "body_too_large",
                f"The body is larger than {settings.API_MAX_BODY_BYTES} bytes.",
            )
        try:
            data = json.loads(body, parse_constant=_no_constant)
        except ApiError:
            raise
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "invalid_json", "The body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "The body must be a JSON object.")
        _nul_check(data)
        return cast(DictStrAny, data)
