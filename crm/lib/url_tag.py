"""`{% url %}` with its answers remembered, installed over Django's as a template builtin.

Django's tag walks the URL resolver on every call; a page's navigation and actions draw a dozen
or more links, which cost more than the list's own rows once those come from the cache. What
reverse() returns depends only on what goes into the key below (the view name, the arguments,
the current app, the URLconf, which django-tenants picks per request, and the script prefix),
so the answer is remembered per process. Arguments other than strings and integers (a model
instance, say) are not remembered, only passed on.
"""

from __future__ import annotations

import functools
from typing import Any

from django import template
from django.conf import settings
from django.template import defaulttags
from django.template.base import Parser, Token
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()

_REMEMBERED_TYPES = (str, int)


@functools.lru_cache(maxsize=4096)
def _remembered_reverse(
    view_name: str,
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
    current_app: str | None,
    urlconf: str,
    script_prefix: str,
) -> str:
    # script_prefix is only part of the key: reverse() reads the same thread-local value.
    return reverse(
        view_name, args=args, kwargs=dict(kwargs), current_app=current_app, urlconf=urlconf
    )


def remembered_reverse(
    view_name: str, args: list[Any], kwargs: dict[str, Any], current_app: str | None
) -> str:
    values = [*args, *kwargs.values()]
    if not isinstance(view_name, str) or not all(type(v) in _REMEMBERED_TYPES for v in values):
        return reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
    return _remembered_reverse(
        view_name,
        tuple(args),
        tuple(sorted(kwargs.items())),
        current_app,
        get_urlconf() or settings.ROOT_URLCONF,
        get_script_prefix(),
    )


class RememberedURLNode(defaulttags.URLNode):
    """Django's URLNode.render, with reverse() through remembered_reverse."""

    def render(self, context: Any) -> str:
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {k: v.resolve(context) for k, v in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = remembered_reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser: Parser, token: Token) -> RememberedURLNode:
    node = defaulttags.url(parser, token)
    return RememberedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
