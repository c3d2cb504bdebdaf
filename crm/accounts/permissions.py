"""Who may do what. Every check is here, once, and the UI, imports, exports and reports reuse it."""

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from crm.accounts import capabilities as cap
from crm.accounts.models import RecordScope, User

View = Callable[..., HttpResponseBase]

# Broadest first: a user with several roles gets the broadest scope among them.
_SCOPE_ORDER = (RecordScope.ALL, RecordScope.TEAM, RecordScope.OWN)


def can(user: Any, codename: str) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.has_perm(cap.perm(codename))
    )


def can_administer(user: Any) -> bool:
    return can(user, cap.ADMINISTER)


def can_view_personal_data(user: Any) -> bool:
    return can(user, cap.PERSONAL_DATA)


def can_operate_platform(user: Any) -> bool:
    """Platform operators are the staff accounts of the public schema."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def broadest_scope(scopes: Iterable[str | None], *, superuser: bool = False) -> str:
    """The record scope of a user whose roles have `scopes` (the one rule: the broadest wins,
    own when no role says; a superuser sees all). Callers that read the roles' scopes along with
    other things (customers.selectors.list_context) decide through this too."""
    if superuser:
        return RecordScope.ALL
    given = set(scopes)
    return next((scope for scope in _SCOPE_ORDER if scope in given), RecordScope.OWN)


def record_scope(user: Any) -> str:
    """Which customers and tickets the user may see: all, their teams', or their own."""
    return broadest_scope(
        user.groups.values_list("profile__scope", flat=True), superuser=user.is_superuser
    )


def scope_filter(
    user: Any, *, owner_field: str, team_field: str | None = None, scope: str | None = None
) -> Q:
    """A filter limiting a queryset of owned records (customers, tickets) to the user's scope
    (`scope`: the user's record scope when the caller already read it, saving a query)."""
    scope = record_scope(user) if scope is None else scope
    if scope == RecordScope.ALL:
        return Q()
    owned = Q(**{owner_field: user.pk})
    if scope == RecordScope.TEAM and team_field is not None:
        return owned | Q(**{f"{team_field}__in": user.teams.values("pk")})
    return owned


def _requires(check: Callable[[Any], bool]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def capability_required(codename: str) -> Callable[[View], View]:
    return _requires(lambda user: can(user, codename))


admin_required = capability_required(cap.ADMINISTER)
operator_required = _requires(can_operate_platform)


def acting_user(request: HttpRequest) -> User:
    """The signed-in staff member behind a request that passed a permission check."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
