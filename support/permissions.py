"""Who may configure support (SLA targets, business hours, holidays, canned responses).

There is no capability of its own yet: configuring is for those who change records and see the
team's reports (the preset Manager role) and for administrators; agents and marketing may not.
A "manage support" capability in crm.accounts would be the cleaner rule once roles are edited
for it (noted in the report of issue 16's first part)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from crm.accounts import capabilities as cap
from crm.accounts.permissions import can, can_administer


def can_configure_support(user: Any) -> bool:
    return can_administer(user) or (can(user, cap.CHANGE) and can(user, cap.REPORTS))


def support_configurer_required(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not can_configure_support(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped
