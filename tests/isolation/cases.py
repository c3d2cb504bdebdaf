"""One isolation case per URL pattern. A pattern without a case fails the suite.

Kinds:
- public: reachable without logging in (login, password reset, language, health);
- staff: needs a logged-in member of this tenant; another tenant's session must not work;
- token: carries a signed token for one tenant's user; it must not work on another tenant;
- object: names one tenant's record; from another tenant it is a 404 (later apps add these:
  build the record in `tenant` with an id the other tenant does not have, and return kwargs);
- operator: platform console; only operators of the public schema get in.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tenants.utils import schema_context

from crm.accounts.models import User
from tests.support.cast import TenantCast

Kind = Literal["public", "staff", "token", "object", "operator"]
KwargsFactory = Callable[[TenantCast], dict[str, str]]


@dataclass(frozen=True)
class Case:
    kind: Kind
    method: Literal["GET", "POST"] = "GET"
    kwargs: KwargsFactory | None = None
    # Roles of this tenant that may use it; the others get 403. None: every role.
    roles: tuple[str, ...] | None = None


def _reset_link(member: TenantCast) -> dict[str, str]:
    with schema_context(member.schema):
        user = User.objects.get(pk=member.users["agent"].pk)
        return {
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        }


def _slug(member: TenantCast) -> dict[str, str]:
    return {"slug": member.tenant.slug}


TENANT_CASES: dict[str, Case] = {
    "home": Case("staff"),
    "accounts:login": Case("public"),
    "accounts:logout": Case("public", method="POST"),
    "accounts:password_reset": Case("public"),
    "accounts:password_reset_done": Case("public"),
    "accounts:password_reset_confirm": Case("token", kwargs=_reset_link),
    "accounts:password_reset_complete": Case("public"),
    "accounts:language_set": Case("public", method="POST"),
    "staff_list": Case("staff", roles=("admin",)),
    "customers:home": Case("staff"),
    "support:home": Case("staff"),
    "loyalty:home": Case("staff"),
    "analytics:home": Case("staff"),
    "healthz": Case("public"),
}

PUBLIC_CASES: dict[str, Case] = {
    "console:home": Case("operator"),
    "console:tenant_new": Case("operator"),
    "console:tenant_detail": Case("operator", kwargs=_slug),
    "console:tenant_status": Case("operator", kwargs=_slug),
    "console:tenant_suspend": Case("operator", method="POST", kwargs=_slug),
    "console:tenant_resume": Case("operator", method="POST", kwargs=_slug),
    "console:tenant_retry": Case("operator", method="POST", kwargs=_slug),
    "accounts:login": Case("public"),
    "accounts:logout": Case("public", method="POST"),
    "accounts:password_reset": Case("public"),
    "accounts:password_reset_done": Case("public"),
    "accounts:password_reset_confirm": Case("public", kwargs=_reset_link),
    "accounts:password_reset_complete": Case("public"),
    "accounts:language_set": Case("public", method="POST"),
    "healthz": Case("public"),
}
