from typing import Any

from django import template

from crm.accounts.masking import shown

register = template.Library()


@register.simple_tag(takes_context=True)
def pii(context: dict[str, Any], value: Any, kind: str) -> Any:
    """{% pii customer.phone "phone" %}: the value, masked unless the viewer may see it."""
    request = context.get("request")
    return shown(getattr(request, "user", None), kind, value)
