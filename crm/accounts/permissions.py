"""Who may do what. One function per check, reused by every view that needs it."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def can_administer(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_tenant_admin)


def can_operate_platform(user: Any) -> bool:
    """Platform operators are the staff accounts of the public schema."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def _requires(check: Callable[[Any], bool]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


admin_required = _requires(can_administer)
operator_required = _requires(can_operate_platform)
