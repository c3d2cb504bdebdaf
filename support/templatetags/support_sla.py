"""`business_minutes`: a target or a median in business minutes as "2 h 30 min"."""

from django import template

register = template.Library()


@register.filter
def business_minutes(value: float | None) -> str:
    from support.views_slarep import minutes_text

    return minutes_text(value)
