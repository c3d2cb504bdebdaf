"""Who is calling: `Authorization: Bearer <token>`, looked up in the current tenant's schema
(so another tenant's token is unknown here), then the token's rate limit, its scope and the
size of the body, all before the body is read."""

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from crm.accounts.audit import audit_actor
from crm.accounts.permissions import can_view_personal_data
from crm.api.errors import ApiError
from crm.api.models import ApiToken
from crm.api.ratelimit import rate_limit_wait
from crm.api.selectors import token_for_secret

# Last use is written at most once a minute a token: the exact second is not worth a write on
# every request.
LAST_USED_STEP = datetime.timedelta(seconds=60)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_shows_personal_data(token: ApiToken) -> bool:
    """Whether answers to this token show personal data unmasked: a command-line token's do
    (platform operators); a page-made token's only while its maker exists, is active and may
    see personal data. A maker deleted since (created_by gone) or deactivated: masked."""
    if token.origin == ApiToken.Origin.COMMAND_LINE:
        return True
    return can_view_personal_data(token.created_by)


def _note_use(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_STEP:
        # Bookkeeping of the request, not a change anyone made: the audit trigger ignores it.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def _body_size_check(request: HttpRequest) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.API_MAX_BODY_BYTES:
        raise ApiError(
            400,
            "body_too_large",
            f"The body is larger than {settings.API_MAX_BODY_BYTES} bytes.",
        )


class TokenAuth(HttpBearer):
    """Bearer token auth for the routers of one scope."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = token_for_secret(token.strip())
        if found is None:
            return None
        wait = rate_limit_wait(found.secret_hash[:24])
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests for this token; try again in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        if self.scope not in found.scopes:
            raise ApiError(
                403,
                "insufficient_scope",
                f"This token may not use the {self.scope} endpoints.",
            )
        _body_size_check(request)
        _note_use(found)
        return found


@contextmanager
def token_acting(request: HttpRequest) -> Iterator[None]:
    """Every row the request changes is recorded as done by "API token: <name>" (services are
    called with actor=None, which keeps the label set here). No address: a service acting for
    no user names the label alone, and the same values twice cost no round trip to the
    database (crm.lib.audit_actor), which a till's every redemption would pay."""
    token = getattr(request, "auth", None)
    if not isinstance(token, ApiToken):
        yield
        return
    with audit_actor(token.actor_label):
        yield


def token_acts(view: Callable[..., Any]) -> Callable[..., Any]:
    """Operation decorator for the whole API: writes are attributed to the calling token."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.method in SAFE_METHODS:
            return view(request, *args, **kwargs)
        with token_acting(request):
            return view(request, *args, **kwargs)

    return wrapped
