"""The support sections' navigation, drawn the same on every support page: which sections a
reader sees is decided here from their permissions, not by each page's context."""

from typing import Any

from django import template

from crm.accounts import capabilities as cap
from crm.accounts.permissions import can
from support.permissions import can_configure_support

register = template.Library()


@register.inclusion_tag("support/_subnav.html", takes_context=True)
def support_subnav(context: Any, current: str, *, new_link: bool = True) -> dict[str, Any]:
    """`current`: the section this page belongs to. `new_link`: list "New ticket" (pages
    with their own New ticket button leave it out)."""
    user = context["request"].user
    return {
        "subnav": current,
        "can_create": new_link and can(user, cap.CREATE),
        "can_configure": can_configure_support(user),
        "perms": context.get("perms"),
    }
